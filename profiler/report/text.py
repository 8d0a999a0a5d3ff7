"""Words and numbers: metric names a person reads, number formatting, headline sentences.

Pure functions over comparison.json's metric rows and summaries; names come from the metric
catalogue (:mod:`catalog.metrics`), so every format says the same thing in the same words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from catalog.metrics import RUN_STAT, headline_metrics, lookup
from profiler.results.comparison import MetricRow

#: Summary keys that are not catalogue metrics: what a person calls them.
OTHER_LABELS: dict[str, str] = {
    "duration": "duration (s)",
    "completed": "completed requests",
    "failed": "failed requests",
    "total_input_tokens": "prompt tokens",
    "total_output_tokens": "output tokens",
}


def metric_label(key: str) -> str:
    """``p99_ttft_ms`` → ``p99 TTFT (ms)``; ``output_throughput`` → ``output tokens/s (TPS)``."""
    found = lookup(key)
    if found is None:
        return OTHER_LABELS.get(key, key.replace("_", " "))
    metric, stat = found
    if metric.level == "run":
        return metric.label
    return f"{stat} {metric.label} ({metric.unit})"


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


def significance(row: MetricRow) -> str:
    if row.significant is None:
        return "no CI"
    return "significant" if row.significant else "not significant"


def overhead_phrase(row: MetricRow, noun: str) -> str:
    """``3.8% TTFT (95% CI 2.1–5.4%, significant)``; negative overheads keep their sign."""
    if row.overhead_pct is None:
        return f"an unmeasured change in {noun}"
    x = float(row.overhead_pct)
    amount = f"{abs(x):.1f}%" if x >= 0 else f"−{abs(x):.1f}%"
    if row.ci_low is None or row.ci_high is None:
        return f"{amount} {noun} (no confidence interval)"
    return f"{amount} {noun} (95% CI {ci(row.ci_low, row.ci_high)}, {significance(row)})"


def find_metric(rows: Iterable[MetricRow], *keys: str) -> MetricRow | None:
    """The first row whose ``metric`` is one of ``keys`` (in the order of ``keys``)."""
    by_key = {r.metric: r for r in rows}
    for key in keys:
        if key in by_key and by_key[key].overhead_pct is not None:
            return by_key[key]
    return None


def headline_groups() -> list[tuple[str, list[str], str]]:
    """(noun, metric keys in order of preference, direction) of the headline, from the
    catalogue: metrics sharing a noun stand in for each other (ITL for TPOT: "decode time")."""
    groups: dict[str, tuple[list[str], str]] = {}
    for m in headline_metrics():
        assert m.headline is not None
        stat = "mean" if m.level != "run" else RUN_STAT
        keys, _ = groups.setdefault(m.headline, ([], m.direction))
        keys.append(m.summary_key(stat))
        if m.level != "run":
            keys.append(m.summary_key("median"))
    return [(noun, keys, direction) for noun, (keys, direction) in groups.items()]


def headline(
    model: str | None,
    rows: Sequence[MetricRow],
    *,
    aa: bool = False,
    leg: str | None = None,
    reference: str | None = None,
) -> str:
    """One sentence a reader can quote: what the TEE adds to TTFT and to decode time, and the
    first throughput overhead.

    With an A/A comparison (the same endpoint as both legs) the sentence says plainly that
    the numbers are a calibration of measurement noise, not a TEE cost.
    """
    latency = [(noun, find_metric(rows, *keys)) for noun, keys, d in headline_groups() if d == "latency"]
    parts = [overhead_phrase(r, noun) for noun, r in latency[:2] if r is not None]
    tput = next(((noun, r) for noun, keys, d in headline_groups() if d == "throughput"
                 and (r := find_metric(rows, *keys)) is not None), None)
    who = f"{model}: " if model else ""
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
    elif leg and reference and (leg, reference) != ("on", "off"):
        sentence = f"{who}{leg} adds " + " and ".join(parts) + f" over {reference}." if parts else f"{who}"
    else:
        sentence = f"{who}TEE adds " + " and ".join(parts) + "." if parts else f"{who}"
    if tput is not None:
        sentence += f" Throughput overhead: {overhead_phrase(tput[1], tput[0])}."
    return sentence.strip()
