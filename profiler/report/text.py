"""Words and numbers: metric names a person reads, number formatting, headline sentences.

Pure functions over plain dicts (comparison.json metric rows, summaries), so every format
says the same thing in the same words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: metric stem → (what a person calls it, unit)
FAMILY_LABELS: dict[str, tuple[str, str]] = {
    "ttft": ("TTFT", "ms"),
    "tpot": ("TPOT", "ms"),
    "itl": ("ITL", "ms"),
    "e2el": ("E2E latency", "ms"),
    "client_lag": ("client lag", "ms"),
    "request_throughput": ("requests/s (QPS)", ""),
    "output_throughput": ("output tokens/s (TPS)", ""),
    "total_token_throughput": ("total tokens/s", ""),
    "request_goodput": ("goodput (req/s)", ""),
    "duration": ("duration (s)", ""),
}

STAT_LABELS = {"mean": "mean", "median": "median", "std": "std"}

#: What the headline calls each family (the issue's example: "3.8% TTFT ... 2.3% decode time").
HEADLINE_NOUNS = {
    "ttft": "TTFT",
    "tpot": "decode time",
    "itl": "decode time",
    "e2el": "end-to-end latency",
    "output_throughput": "output tokens/s",
    "request_throughput": "requests/s",
}


def split_metric(key: str) -> tuple[str, str]:
    """``mean_ttft_ms`` → (``mean``, ``ttft``); ``p99_itl_ms`` → (``p99``, ``itl``);
    ``output_throughput`` → (``""``, ``output_throughput``)."""
    if key.endswith("_ms") and "_" in key[:-3]:
        stat, stem = key[:-3].split("_", 1)
        return stat, stem
    return "", key


def metric_label(key: str) -> str:
    """``p99_ttft_ms`` → ``p99 TTFT (ms)``; ``output_throughput`` → ``output tokens/s (TPS)``."""
    stat, stem = split_metric(key)
    name, unit = FAMILY_LABELS.get(stem, (stem.replace("_", " "), ""))
    stat_txt = STAT_LABELS.get(stat, stat)
    if stat:
        return f"{stat_txt} {name} ({unit})" if unit else f"{stat_txt} {name}"
    return f"{name} ({unit})" if unit and unit not in name else name


def num(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant figures, thousands kept whole; '—' for missing."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "—"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x != 0 and abs(x) >= 10**digits:
        return f"{x:,.0f}"
    text = f"{x:.{digits}g}"
    if "e" in text:  # tiny values: plain decimals read better than 1.2e-05 in a table
        text = f"{x:.6f}".rstrip("0").rstrip(".")
    return text.replace("-", "−")


def pct(value: Any, digits: int = 1, sign: bool = True) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    x = float(value)
    text = f"{x:+.{digits}f}%" if sign else f"{x:.{digits}f}%"
    return text.replace("-", "−")


def ci(low: Any, high: Any, digits: int = 1) -> str:
    """``2.1–5.4%`` (an en dash between the bounds; minus signs as real minus signs)."""
    if low is None or high is None:
        return "no CI"
    lo = pct(low, digits, sign=False)
    hi = pct(high, digits, sign=False)
    return f"{lo[:-1]}–{hi}"


def significance(row: Mapping[str, Any]) -> str:
    sig = row.get("significant")
    if sig is None:
        return "no CI"
    return "significant" if sig else "not significant"


def overhead_phrase(row: Mapping[str, Any], noun: str) -> str:
    """``3.8% TTFT (95% CI 2.1–5.4%, significant)``; negative overheads keep their sign."""
    value = row.get("overhead_pct")
    if value is None:
        return f"an unmeasured change in {noun}"
    x = float(value)
    amount = f"{abs(x):.1f}%" if x >= 0 else f"−{abs(x):.1f}%"
    if row.get("ci_low") is None or row.get("ci_high") is None:
        return f"{amount} {noun} (no confidence interval)"
    return f"{amount} {noun} (95% CI {ci(row['ci_low'], row['ci_high'])}, {significance(row)})"


def find_metric(rows: Iterable[Mapping[str, Any]], *keys: str) -> Mapping[str, Any] | None:
    """The first row whose ``metric`` is one of ``keys`` (in the order of ``keys``)."""
    by_key = {str(r.get("metric")): r for r in rows}
    for key in keys:
        if key in by_key and by_key[key].get("overhead_pct") is not None:
            return by_key[key]
    return None


def headline(model: str | None, rows: Sequence[Mapping[str, Any]], *, aa: bool = False) -> str:
    """One sentence a reader can quote: what the TEE adds to TTFT and to decode time.

    With an A/A comparison (the same endpoint as both legs) the sentence says plainly that
    the numbers are a calibration of measurement noise, not a TEE cost.
    """
    ttft = find_metric(rows, "mean_ttft_ms", "median_ttft_ms")
    decode = find_metric(rows, "mean_tpot_ms", "mean_itl_ms", "median_tpot_ms")
    tput = find_metric(rows, "output_throughput", "request_throughput")
    who = f"{model}: " if model else ""
    parts = []
    if ttft is not None:
        parts.append(overhead_phrase(ttft, HEADLINE_NOUNS["ttft"]))
    if decode is not None:
        parts.append(overhead_phrase(decode, "decode time"))
    if not parts and tput is None:
        return f"{who}no overhead could be computed (no metric had values on both legs)."
    if aa:
        body = " and ".join(parts) if parts else ""
        sentence = (
            f"{who}A/A calibration, not a TEE measurement: both legs are the same endpoint, so "
            f"any difference is measurement noise. The legs differ by {body}."
            if body
            else f"{who}A/A calibration, not a TEE measurement."
        )
    else:
        sentence = f"{who}TEE adds " + " and ".join(parts) + "." if parts else f"{who}"
    if tput is not None:
        noun = HEADLINE_NOUNS[str(tput["metric"])]
        sentence += f" Throughput overhead: {overhead_phrase(tput, noun)}."
    return sentence.strip()
