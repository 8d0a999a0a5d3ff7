"""Pure metric functions: per-request timings → per-request metrics → vLLM-compatible summary.

Definitions follow DESIGN §3 (and `vllm bench serve`, so numbers are comparable):

- TTFT = first content event − sent;  E2EL = last content event − sent
- ITL  = every gap between consecutive content events (pooled over requests for percentiles)
- TPOT = (last − first) / (n − 1) for n > 1, n = usage.completion_tokens
- duration = end of the last request − first send (warm-up excluded)

Every function here is pure: integer nanoseconds in, floats out, no clocks, no I/O. Which
metrics a summary holds, and how each is computed from the requests table, is the metric
catalogue's (:mod:`catalog.metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import pandas as pd

from catalog.metrics import meets_slos, summarize_metrics

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

#: Columns of ``requests.parquet`` (DESIGN §5). Extra columns are allowed and kept.
REQUEST_COLUMNS: tuple[str, ...] = (
    "request_id",
    "scheduled_ns",
    "sent_ns",
    "first_ns",
    "last_ns",
    "connect_ms",
    "ttft_ms",
    "tpot_ms",
    "e2el_ms",
    "itl_ms",
    "input_tokens",
    "output_tokens",
    "ok",
    "error",
)

@dataclass(frozen=True)
class RequestMetrics:
    ttft_ms: float
    tpot_ms: float
    e2el_ms: float
    itl_ms: list[float] = field(default_factory=list)


def request_metrics(sent_ns: int, content_ns: Sequence[int], n_tokens: int) -> RequestMetrics:
    """Metrics of one request from its send stamp and the arrival stamps of its content events.

    ``n_tokens`` is ``usage.completion_tokens`` (or a tokenizer count). With no content event
    every metric is NaN; TPOT needs at least two tokens and two events.
    """
    if not content_ns:
        nan = math.nan
        return RequestMetrics(nan, nan, nan, [])
    first, last = content_ns[0], content_ns[-1]
    ttft = (first - sent_ns) / NS_PER_MS
    e2el = (last - sent_ns) / NS_PER_MS
    itl = [(b - a) / NS_PER_MS for a, b in pairwise(content_ns)]
    tpot = (last - first) / NS_PER_MS / (n_tokens - 1) if n_tokens > 1 and len(content_ns) > 1 else math.nan
    return RequestMetrics(ttft, tpot, e2el, itl)


def measured(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows that count for the summary (warm-up rows, if a frame carries them, are dropped)."""
    if "warmup" in frame.columns:
        return frame[~frame["warmup"].astype(bool)]
    return frame


def duration_s(frame: pd.DataFrame) -> float:
    """End of the last request − first send, in seconds (DESIGN §3)."""
    frame = measured(frame)
    sent = frame["sent_ns"].dropna()
    sent = sent[sent > 0]
    if sent.empty:
        return math.nan
    ends = frame["end_ns"] if "end_ns" in frame.columns else frame["last_ns"]
    ends = ends.where(ends.notna() & (ends > 0), frame["last_ns"]).dropna()
    ends = ends[ends > 0]
    if ends.empty:
        return math.nan
    return float(ends.max() - sent.min()) / NS_PER_S


def summarize(
    frame: pd.DataFrame,
    *,
    slos: Mapping[str, float] | None = None,
    duration: float | None = None,
) -> dict[str, float | int | None]:
    """The vLLM-compatible summary of one run (DESIGN §3) from a ``requests.parquet`` frame.

    Counts and totals are fixed; every metric key comes from the catalogue
    (:mod:`catalog.metrics`), so a metric declared there appears here without an edit.
    """
    frame = measured(frame)
    ok = frame[frame["ok"].astype(bool)]
    dur = duration_s(frame) if duration is None else duration
    summary: dict[str, float | int | None] = {
        "completed": len(ok),
        "failed": len(frame) - len(ok),
        "duration": dur if dur == dur else None,
        "total_input_tokens": int(ok["input_tokens"].fillna(0).sum()),
        "total_output_tokens": int(ok["output_tokens"].fillna(0).sum()),
    }
    summary.update(summarize_metrics(frame, dur if dur == dur else None, slos))
    return summary


__all__ = ["REQUEST_COLUMNS", "RequestMetrics", "duration_s", "measured", "meets_slos",
           "request_metrics", "summarize"]
