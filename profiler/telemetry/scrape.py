"""vLLM ``/metrics`` (Prometheus text format): a pure parser, a scraper thread, window deltas.

The scraper keeps only the series a latency split needs (gauges of running/waiting requests
and KV-cache use; the queue/prefill/decode/TTFT/e2e histograms; token counters) and stores
them long-form in ``server_metrics.parquet``: t_ns (perf_counter), name, labels, value.
Histograms are cumulative since server start, so every figure over a run is a delta between
the first and the last scrape inside the window.
"""

from __future__ import annotations

import math
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import pandas as pd

from profiler.telemetry.periodic import Periodic

GAUGES = (
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",  # the name before vLLM v1
)
HISTOGRAMS = (
    "vllm:request_queue_time_seconds",
    "vllm:request_prefill_time_seconds",
    "vllm:request_decode_time_seconds",
    "vllm:request_inference_time_seconds",
    "vllm:time_to_first_token_seconds",
    "vllm:e2e_request_latency_seconds",
    "vllm:inter_token_latency_seconds",
)
COUNTERS = (
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:num_preemptions_total",
)
KEEP = frozenset(
    (*GAUGES, *COUNTERS, *(f"{h}{s}" for h in HISTOGRAMS for s in ("_sum", "_count", "_bucket")))
)
SERVER_METRICS_COLUMNS = ("t_ns", "name", "labels", "value")

# Straight to the endpoint, like the load generator: an http_proxy in the environment must not
# reroute (or slow) the scrapes.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def _parse_labels(text: str, line_no: int) -> dict[str, str]:
    """``a="x",b="y\\"z"`` → dict; values may hold commas, braces and escapes."""
    labels: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " ,":
            i += 1
        if i >= n:
            break
        eq = text.find("=", i)
        if eq < 0 or eq + 1 >= n or text[eq + 1] != '"':
            raise ValueError(f"line {line_no}: bad label set {{{text}}}")
        key = text[i:eq].strip()
        j, buf = eq + 2, []
        while j < n and text[j] != '"':
            if text[j] == "\\" and j + 1 < n:
                buf.append({"n": "\n", "\\": "\\", '"': '"'}.get(text[j + 1], text[j + 1]))
                j += 2
            else:
                buf.append(text[j])
                j += 1
        if j >= n:
            raise ValueError(f"line {line_no}: unterminated label value")
        labels[key] = "".join(buf)
        i = j + 1
    return labels


def _parse_value(text: str) -> float:
    t = text.strip()
    special = {"+Inf": math.inf, "Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
    return special[t] if t in special else float(t)


def parse_prometheus(text: str, names: frozenset[str] | None = None) -> list[Sample]:
    """Parse the Prometheus text exposition format (0.0.4). Comments/HELP/TYPE are skipped.

    With ``names``, other series are skipped before their labels are parsed (the scraper's
    fast path: vLLM exposes ~600 lines, we keep ~100).
    """
    out: list[Sample] = []
    for line_no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        brace = line.find("{")
        if names is not None:
            head = line[:brace] if brace >= 0 else line.split(None, 1)[0]
            if head.strip() not in names:
                continue
        if brace >= 0:
            close = line.rfind("}")
            if close < brace:
                raise ValueError(f"line {line_no}: unbalanced braces")
            name = line[:brace].strip()
            labels = _parse_labels(line[brace + 1 : close], line_no)
            rest = line[close + 1 :].split()
        else:
            parts = line.split()
            name, labels, rest = parts[0], {}, parts[1:]
        if not rest:
            raise ValueError(f"line {line_no}: no value for {name}")
        out.append(Sample(name, labels, _parse_value(rest[0])))  # rest[1] = optional timestamp
    return out


def label_key(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def keep(samples: list[Sample]) -> list[Sample]:
    return [s for s in samples if s.name in KEEP]


# -- window statistics over a server_metrics frame (pure) -----------------------------------

def _window(frame: pd.DataFrame, t0: int | None, t1: int | None) -> pd.DataFrame:
    f = frame
    if t0 is not None:
        f = f[f["t_ns"] >= t0]
    if t1 is not None:
        f = f[f["t_ns"] <= t1]
    return f


def _series_delta(frame: pd.DataFrame, name: str) -> float | None:
    """Σ over label sets of (last − first) of a cumulative series; None without two scrapes."""
    f = frame[frame["name"] == name]
    if f.empty or f["t_ns"].nunique() < 2:
        return None
    total = 0.0
    for _, g in f.groupby("labels"):
        g = g.sort_values("t_ns")
        total += float(g["value"].iloc[-1] - g["value"].iloc[0])
    return total


def histogram_deltas(
    frame: pd.DataFrame, t0: int | None = None, t1: int | None = None
) -> dict[str, dict[str, float | None]]:
    """Per histogram: requests counted in the window, Σ seconds, mean ms (server's view).

    Pass t0 a little before the first request and t1 after the last, so the scrapes bracket
    the run; a histogram counts a request when it finishes.
    """
    f = _window(frame, t0, t1)
    out: dict[str, dict[str, float | None]] = {}
    for h in HISTOGRAMS:
        count = _series_delta(f, f"{h}_count")
        total = _series_delta(f, f"{h}_sum")
        if count is None or total is None:
            continue
        mean_ms = 1000.0 * total / count if count > 0 else None
        out[h.removeprefix("vllm:")] = {"count": count, "sum_s": total, "mean_ms": mean_ms}
    return out


def gauge_stats(
    frame: pd.DataFrame, t0: int | None = None, t1: int | None = None
) -> dict[str, dict[str, float]]:
    """Mean and max of each gauge over the window (summed over label sets per scrape)."""
    f = _window(frame, t0, t1)
    out: dict[str, dict[str, float]] = {}
    for g in GAUGES:
        s = f[f["name"] == g]
        if s.empty:
            continue
        per_scrape = s.groupby("t_ns")["value"].sum()
        out[g.removeprefix("vllm:")] = {
            "mean": float(per_scrape.mean()),
            "max": float(per_scrape.max()),
            "scrapes": int(per_scrape.size),
        }
    return out


def counter_deltas(frame: pd.DataFrame, t0: int | None = None, t1: int | None = None) -> dict[str, float]:
    f = _window(frame, t0, t1)
    out: dict[str, float] = {}
    for c in COUNTERS:
        d = _series_delta(f, c)
        if d is not None:
            out[c.removeprefix("vllm:")] = d
    return out


class MetricsScraper(Periodic):
    """GETs ``metrics_url`` every interval in its own thread (never on the event loop)."""

    def __init__(self, metrics_url: str, interval_s: float = 0.5, timeout_s: float = 2.0) -> None:
        super().__init__("scrape", interval_s)
        self.url = metrics_url
        self.timeout_s = timeout_s
        self.rows: list[tuple[int, str, str, float]] = []
        self.scrapes = 0
        self.errors = 0
        self.last_error: str | None = None

    def tick(self, now_ns: int) -> None:
        try:
            with DIRECT.open(self.url, timeout=self.timeout_s) as resp:
                body = resp.read().decode("utf-8", errors="replace")
            t_ns = time.perf_counter_ns()  # the moment the answer was complete
            samples = parse_prometheus(body, KEEP)
        except Exception as exc:  # a scrape failure must not stop the run
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return
        self.scrapes += 1
        self.rows.extend((t_ns, s.name, label_key(s.labels), s.value) for s in samples)

    def final_tick(self) -> None:
        self.tick(time.perf_counter_ns())  # close the window after the last request

    def table(self) -> pd.DataFrame | None:
        if not self.rows:
            return None
        return pd.DataFrame(self.rows, columns=list(SERVER_METRICS_COLUMNS))

    def summary(self) -> dict[str, Any]:
        frame = self.table()
        out: dict[str, Any] = {
            "url": self.url,
            "scrapes": self.scrapes,
            "errors": self.errors,
            "last_error": self.last_error,
            "cost": self.cost(),
        }
        if frame is not None:
            out["histograms"] = histogram_deltas(frame)
            out["gauges"] = gauge_stats(frame)
            out["counters"] = counter_deltas(frame)
        return out
