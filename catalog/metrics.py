"""The metric catalogue: every metric is declared here once (DESIGN §3, §9 "one metric, one
declaration").

A :class:`Metric` says what the number is called (vLLM's summary key), its unit and direction
(latency: lower is better; throughput: higher is better), how it is computed from a
``requests.parquet`` frame, and how it is shown. Everything else derives from the catalogue,
in registration order: the loadgen summary (``summary.json``), the SLO names a workload
accepts, the overhead rows of ``comparison.json``, the report tables and headline, and the
statistics capacity planning bounds. Adding a metric is one ``METRICS.add(...)`` here (or in a
plug-in module) plus its test.

Three levels:

- ``request``: one value per request (``per_request``: NaN where undefined, e.g. a failed
  request); summarised as a distribution (mean, median, std, percentiles);
- ``pooled``: a list of values per request pooled over requests before taking percentiles, as
  vLLM does for ITL (``per_request_lists``);
- ``run``: one rate per run, ``per_run(frame, slos)`` / the run's duration (tokens/s, req/s),
  or / ``per_run_seconds(frame)`` when the metric measures over a window of its own (the steady
  state: see :func:`steady_window`).

Every computation here is a pure function of the frame (DESIGN §8.5).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from catalog.registry import Registry

Level = Literal["request", "pooled", "run"]
Direction = Literal["latency", "throughput"]

#: What summary.json carries per request-level metric (vLLM's names: mean_ttft_ms, p99_ttft_ms).
SUMMARY_STATS: tuple[str, ...] = ("mean", "median", "std", "p50", "p90", "p95", "p99")
#: What a comparison reports an overhead for, per request-level metric.
OVERHEAD_STATS: tuple[str, ...] = ("mean", "p50", "p90", "p99")
#: The single statistic of a run-level metric (its rate over the run).
RUN_STAT = "value"

PerRequest = Callable[[pd.DataFrame], np.ndarray]
PerRequestLists = Callable[[pd.DataFrame], list[np.ndarray]]
PerRun = Callable[[pd.DataFrame, Mapping[str, float]], float]


@dataclass(frozen=True)
class Metric:
    name: str  # short name: ttft, tpot, itl, e2el, tps, qps, goodput …
    label: str  # what a person calls it: "TTFT", "output tokens/s (TPS)"
    unit: str  # ms, tok/s, req/s
    direction: Direction
    level: Level
    per_request: PerRequest | None = None
    per_request_lists: PerRequestLists | None = None
    per_run: PerRun | None = None
    #: the seconds a run-level rate is taken over (None: the run's duration, DESIGN §3)
    per_run_seconds: Callable[[pd.DataFrame], float] | None = None
    #: run level: the summary key (vLLM's: output_throughput); request level: derived from stats
    key: str | None = None
    summary_stats: tuple[str, ...] = SUMMARY_STATS
    overhead_stats: tuple[str, ...] = OVERHEAD_STATS  # () = summarised, never compared
    slo: bool = False  # a per-request bound a workload's ``slos`` (goodput) may set
    needs_slos: bool = False  # only defined when the workload has SLOs (goodput)
    headline: str | None = None  # noun in the one-sentence answer ("decode time")
    digits: int = 3  # significant figures shown

    def __post_init__(self) -> None:
        wanted = {"request": self.per_request, "pooled": self.per_request_lists, "run": self.per_run}
        if wanted[self.level] is None:
            raise ValueError(f"metric {self.name!r}: level {self.level!r} needs its computation")
        if self.level == "run" and not self.key:
            raise ValueError(f"metric {self.name!r}: a run-level metric needs its summary key")

    def summary_key(self, stat: str) -> str:
        """The key of one statistic: ``p99_ttft_ms``; a run-level metric has one key."""
        if self.level == "run":
            assert self.key is not None
            return self.key
        return f"{stat}_{self.name}_{self.unit}"

    @property
    def stats(self) -> tuple[str, ...]:
        """The statistics summary.json holds for this metric."""
        return (RUN_STAT,) if self.level == "run" else self.summary_stats

    @property
    def compared_stats(self) -> tuple[str, ...]:
        if self.level == "run":
            return (RUN_STAT,) if self.overhead_stats else ()
        return self.overhead_stats

    def all_keys(self) -> list[str]:
        return [self.summary_key(s) for s in self.stats]


METRICS: Registry[Metric] = Registry("metric")


# --------------------------------------------------------------------------- computations


def ok_mask(frame: pd.DataFrame) -> np.ndarray:
    return frame["ok"].fillna(False).astype(bool).to_numpy()


def ok_column(column: str) -> PerRequest:
    """The column where the request succeeded, NaN elsewhere."""

    def values(frame: pd.DataFrame) -> np.ndarray:
        v = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
        return np.where(ok_mask(frame), v, np.nan)

    return values


def _itl_lists(frame: pd.DataFrame) -> list[np.ndarray]:
    ok = ok_mask(frame)
    return [
        np.asarray(v if v is not None else [], dtype=float) if k else np.empty(0)
        for v, k in zip(frame["itl_ms"], ok, strict=True)
    ]


def _client_lag(frame: pd.DataFrame) -> np.ndarray:
    """sent − scheduled for every request that was sent (failed ones included: lateness is the
    client's, whatever the server answered)."""
    sent = pd.to_numeric(frame["sent_ns"], errors="coerce").to_numpy(float)
    sched = pd.to_numeric(frame["scheduled_ns"], errors="coerce").to_numpy(float)
    return np.where(sent > 0, (sent - sched) / 1e6, np.nan)


def _ok_sum(column: str) -> PerRun:
    def total(frame: pd.DataFrame, slos: Mapping[str, float]) -> float:
        v = pd.to_numeric(frame[column], errors="coerce").fillna(0).to_numpy(float)
        return float(np.where(ok_mask(frame), v, 0.0).sum())

    return total


def _completed(frame: pd.DataFrame, slos: Mapping[str, float]) -> float:
    return float(ok_mask(frame).sum())


def _all_tokens(frame: pd.DataFrame, slos: Mapping[str, float]) -> float:
    return _ok_sum("input_tokens")(frame, slos) + _ok_sum("output_tokens")(frame, slos)


def _good(frame: pd.DataFrame, slos: Mapping[str, float]) -> float:
    return float(meets_slos(frame, slos).sum())


#: A steady window shorter than this share of the run says the run never reached steady state.
MIN_STEADY_SHARE = 0.25


def _ns(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    v = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    return np.where(v > 0, v, np.nan)


def steady_window(frame: pd.DataFrame) -> tuple[float, float] | None:
    """(start, end) in CLOCK_MONOTONIC ns of a run's steady state: from the first completion
    (every concurrency slot has then been filled once and the first one refilled: the opening
    wave is over) to the last send (after it the run only drains, at falling concurrency).
    None without timestamps, or when that window is under :data:`MIN_STEADY_SHARE` of the run."""
    ends = _ns(frame, "end_ns") if "end_ns" in frame.columns else _ns(frame, "last_ns")
    ends = np.where(ok_mask(frame), ends, np.nan)
    sent = _ns(frame, "sent_ns")
    if not np.isfinite(ends).any() or not np.isfinite(sent).any():
        return None
    lo, hi = float(np.nanmin(ends)), float(np.nanmax(sent))
    total = float(np.nanmax(ends) - np.nanmin(sent))
    if not hi > lo or total <= 0 or (hi - lo) < MIN_STEADY_SHARE * total:
        return None
    return lo, hi


def _steady_seconds(frame: pd.DataFrame) -> float:
    w = steady_window(frame)
    return math.nan if w is None else (w[1] - w[0]) / 1e9


def _steady_tokens(frame: pd.DataFrame, slos: Mapping[str, float]) -> float:
    """Output tokens emitted inside the steady window: each request's tokens spread evenly over
    its streaming span (first to last content event), counted where that span overlaps."""
    w = steady_window(frame)
    if w is None:
        return math.nan
    lo, hi = w
    first, last = _ns(frame, "first_ns"), _ns(frame, "last_ns")
    n = pd.to_numeric(frame["output_tokens"], errors="coerce").fillna(0).to_numpy(float)
    ok = ok_mask(frame) & np.isfinite(first) & np.isfinite(last)
    span = last - first
    with np.errstate(invalid="ignore", divide="ignore"):
        overlap = np.clip(np.minimum(last, hi) - np.maximum(first, lo), 0, None)
        inside = ((first >= lo) & (first <= hi)) * 1.0  # a one-event response: all or nothing
        share = np.where(span > 0, overlap / np.where(span > 0, span, 1), inside)
    return float(np.where(ok, n * share, 0.0).sum())


def _steady_completions(frame: pd.DataFrame, slos: Mapping[str, float]) -> float:
    w = steady_window(frame)
    if w is None:
        return math.nan
    ends = _ns(frame, "end_ns") if "end_ns" in frame.columns else _ns(frame, "last_ns")
    return float((ok_mask(frame) & (ends >= w[0]) & (ends <= w[1])).sum())


for _metric in (
    Metric(
        "ttft",
        "TTFT",
        "ms",
        "latency",
        "request",
        per_request=ok_column("ttft_ms"),
        slo=True,
        headline="TTFT",
    ),
    Metric(
        "tpot",
        "TPOT",
        "ms",
        "latency",
        "request",
        per_request=ok_column("tpot_ms"),
        slo=True,
        headline="decode time",
    ),
    Metric("itl", "ITL", "ms", "latency", "pooled", per_request_lists=_itl_lists, headline="decode time"),
    Metric(
        "e2el",
        "E2E latency",
        "ms",
        "latency",
        "request",
        per_request=ok_column("e2el_ms"),
        slo=True,
        headline="end-to-end latency",
    ),
    Metric(
        "tps_ss",
        "output tokens/s, steady state",
        "tok/s",
        "throughput",
        "run",
        per_run=_steady_tokens,
        per_run_seconds=_steady_seconds,
        key="steady_output_throughput",
        headline="output tokens/s",
    ),
    Metric(
        "qps_ss",
        "requests/s, steady state",
        "req/s",
        "throughput",
        "run",
        per_run=_steady_completions,
        per_run_seconds=_steady_seconds,
        key="steady_request_throughput",
        headline="requests/s",
    ),
    Metric(
        "tps",
        "output tokens/s (TPS)",
        "tok/s",
        "throughput",
        "run",
        per_run=_ok_sum("output_tokens"),
        key="output_throughput",
        headline="output tokens/s",
    ),
    Metric(
        "qps",
        "requests/s (QPS)",
        "req/s",
        "throughput",
        "run",
        per_run=_completed,
        key="request_throughput",
        headline="requests/s",
    ),
    Metric(
        "total_tps",
        "total tokens/s",
        "tok/s",
        "throughput",
        "run",
        per_run=_all_tokens,
        key="total_token_throughput",
        overhead_stats=(),
    ),
    Metric(
        "goodput",
        "goodput (req/s)",
        "req/s",
        "throughput",
        "run",
        per_run=_good,
        key="request_goodput",
        needs_slos=True,
    ),
    Metric(
        "client_lag",
        "client lag",
        "ms",
        "latency",
        "request",
        per_request=_client_lag,
        summary_stats=("mean", "p99", "max"),
        overhead_stats=(),
    ),
):
    METRICS.add(_metric.name, _metric)


# --------------------------------------------------------------------------- derived views


def slo_names() -> list[str]:
    """The per-request SLO keys a workload accepts (``slos: {ttft: 200}``)."""
    return [m.name for m in METRICS.values() if m.slo]


def meets_slos(frame: pd.DataFrame, slos: Mapping[str, float]) -> pd.Series:
    """Per request: True when it succeeded and meets every SLO (values in the metric's unit,
    ≤ passes). TPOT is undefined for 1-token outputs; vLLM counts those as meeting it."""
    good = pd.Series(ok_mask(frame), index=frame.index)
    for key, limit in slos.items():
        metric = METRICS.get(key) if key in METRICS else None
        if metric is None or not metric.slo or metric.per_request is None:
            raise ValueError(f"unknown SLO {key!r}; known: {', '.join(slo_names())}")
        values = pd.Series(metric.per_request(frame), index=frame.index)
        passes = values <= limit
        if key == "tpot":
            passes |= values.isna()
        good &= passes.fillna(False).astype(bool)
    return good


def compared() -> Iterator[Metric]:
    """Metrics a comparison reports overheads for, in catalogue order."""
    return (m for m in METRICS.values() if m.compared_stats)


def headline_metrics() -> list[Metric]:
    return [m for m in METRICS.values() if m.headline]


def lookup(key: str) -> tuple[Metric, str] | None:
    """(metric, statistic) of a summary key (``p99_ttft_ms`` → (ttft, p99)); None if unknown."""
    for m in METRICS.values():
        for stat in m.stats:
            if m.summary_key(stat) == key:
                return m, stat
    return None


def summary_keys() -> list[str]:
    """Every metric key summary.json may hold, in catalogue order."""
    return [k for m in METRICS.values() for k in m.all_keys()]


def pct_value(stat: str) -> float | None:
    """``p99`` → 99.0, ``median`` → 50.0; None for mean/std/max."""
    if stat == "median":
        return 50.0
    if stat.startswith("p"):
        return float(stat[1:])
    return None


def distribution(values: np.ndarray, metric: Metric) -> dict[str, float | None]:
    """The summary statistics of one metric over ``values`` (NaN dropped)."""
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    out: dict[str, float | None] = {}
    for stat in metric.summary_stats:
        key = metric.summary_key(stat)
        if arr.size == 0:
            out[key] = None
        elif stat == "mean":
            out[key] = float(arr.mean())
        elif stat == "std":
            out[key] = float(arr.std())
        elif stat == "max":
            out[key] = float(arr.max())
        else:
            q = pct_value(stat)
            if q is None:
                raise ValueError(f"metric {metric.name}: unknown statistic {stat!r}")
            out[key] = float(np.percentile(arr, q))
    return out


def request_values(metric: Metric, frame: pd.DataFrame) -> np.ndarray:
    """All values of a request or pooled metric (pooled: concatenated over requests)."""
    if metric.level == "request":
        assert metric.per_request is not None
        return metric.per_request(frame)
    assert metric.per_request_lists is not None
    parts = metric.per_request_lists(frame)
    return np.concatenate(parts) if parts else np.empty(0)


def rate(total: float, duration_s: float | None) -> float | None:
    if duration_s is None or not duration_s > 0 or math.isnan(duration_s) or math.isnan(total):
        return None
    return total / duration_s


def summarize_metrics(
    frame: pd.DataFrame,
    duration_s: float | None,
    slos: Mapping[str, float] | None = None,
    metrics: Sequence[Metric] | None = None,
) -> dict[str, float | None]:
    """Every catalogue metric's summary keys for one run's measured requests."""
    out: dict[str, float | None] = {}
    for m in metrics if metrics is not None else METRICS.values():
        if m.level == "run":
            if m.needs_slos and not slos:
                continue
            assert m.per_run is not None and m.key is not None
            seconds = m.per_run_seconds(frame) if m.per_run_seconds is not None else duration_s
            out[m.key] = rate(m.per_run(frame, slos or {}), seconds)
        else:
            out.update(distribution(request_values(m, frame), m))
    return out
