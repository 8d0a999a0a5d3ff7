"""Pure metric functions: per-request timings → per-request metrics → vLLM-compatible summary.

Definitions follow DESIGN §3 (and `vllm bench serve`, so numbers are comparable):

- TTFT = first content event − sent;  E2EL = last content event − sent
- ITL  = every gap between consecutive content events (pooled over requests for percentiles)
- TPOT = (last − first) / (n − 1) for n > 1, n = usage.completion_tokens
- duration = end of the last request − first send (warm-up excluded)

Every function here is pure: integer nanoseconds in, floats out, no clocks, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import pandas as pd

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

#: The latency families summarised like vLLM: (column, summary-key stem).
LATENCY_FAMILIES: tuple[tuple[str, str], ...] = (
    ("ttft_ms", "ttft"),
    ("tpot_ms", "tpot"),
    ("itl_ms", "itl"),
    ("e2el_ms", "e2el"),
)

DEFAULT_PERCENTILES: tuple[float, ...] = (50, 90, 95, 99)

#: SLO keys accepted by :func:`meets_slos` and their per-request column.
SLO_COLUMNS: Mapping[str, str] = {"ttft": "ttft_ms", "tpot": "tpot_ms", "e2el": "e2el_ms"}


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


def pooled_itl_ms(frame: pd.DataFrame) -> np.ndarray:
    """All inter-token gaps of successful requests, pooled (vLLM pools ITLs for percentiles)."""
    ok = frame[frame["ok"].astype(bool)]
    parts = [np.asarray(v, dtype=float) for v in ok["itl_ms"] if v is not None and len(v)]
    return np.concatenate(parts) if parts else np.empty(0)


def distribution(values: Iterable[float], stem: str, percentiles: Sequence[float]) -> dict[str, float | None]:
    """mean/median/std and the named percentiles of ``values`` under vLLM's key names."""
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    arr = arr[~np.isnan(arr)]
    out: dict[str, float | None] = {}
    if arr.size == 0:
        out.update({f"mean_{stem}_ms": None, f"median_{stem}_ms": None, f"std_{stem}_ms": None})
        out.update({f"p{_pct_name(p)}_{stem}_ms": None for p in percentiles})
        return out
    out[f"mean_{stem}_ms"] = float(arr.mean())
    out[f"median_{stem}_ms"] = float(np.median(arr))
    out[f"std_{stem}_ms"] = float(arr.std())
    for p in percentiles:
        out[f"p{_pct_name(p)}_{stem}_ms"] = float(np.percentile(arr, p))
    return out


def _pct_name(p: float) -> str:
    return str(int(p)) if float(p).is_integer() else str(p)


def meets_slos(frame: pd.DataFrame, slos: Mapping[str, float]) -> pd.Series:
    """Per request: True when it succeeded and meets every SLO (values in ms, ≤ passes)."""
    good = frame["ok"].astype(bool)
    for key, limit in slos.items():
        try:
            column = SLO_COLUMNS[key]
        except KeyError:
            raise ValueError(f"unknown SLO {key!r}; known: {', '.join(SLO_COLUMNS)}") from None
        values = frame[column]
        # TPOT is undefined for 1-token outputs; vLLM counts those as meeting a TPOT SLO.
        passes = values <= limit if key != "tpot" else (values <= limit) | values.isna()
        good &= passes.fillna(False).astype(bool)
    return good


def client_lag_ms(frame: pd.DataFrame) -> np.ndarray:
    """sent − scheduled for every measured request that was sent (the client's own lateness)."""
    sent = frame["sent_ns"]
    mask = sent.notna() & (sent > 0)
    return ((frame.loc[mask, "sent_ns"] - frame.loc[mask, "scheduled_ns"]) / NS_PER_MS).to_numpy(float)


def summarize(
    frame: pd.DataFrame,
    *,
    slos: Mapping[str, float] | None = None,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    duration: float | None = None,
) -> dict[str, float | int | None]:
    """The vLLM-compatible summary of one run (DESIGN §3) from a ``requests.parquet`` frame."""
    frame = measured(frame)
    ok = frame[frame["ok"].astype(bool)]
    dur = duration_s(frame) if duration is None else duration
    out_tokens = int(ok["output_tokens"].fillna(0).sum())
    in_tokens = int(ok["input_tokens"].fillna(0).sum())
    completed = len(ok)

    def per_s(x: float) -> float | None:
        return x / dur if dur and dur > 0 and not math.isnan(dur) else None

    summary: dict[str, float | int | None] = {
        "completed": completed,
        "failed": len(frame) - completed,
        "duration": dur if dur == dur else None,
        "total_input_tokens": in_tokens,
        "total_output_tokens": out_tokens,
        "request_throughput": per_s(completed),
        "output_throughput": per_s(out_tokens),
        "total_token_throughput": per_s(in_tokens + out_tokens),
    }
    if slos:
        summary["request_goodput"] = per_s(int(meets_slos(frame, slos).sum()))
    for column, stem in LATENCY_FAMILIES:
        values = pooled_itl_ms(frame) if column == "itl_ms" else ok[column].to_numpy(float)
        summary.update(distribution(values, stem, percentiles))
    lag = client_lag_ms(frame)
    summary["mean_client_lag_ms"] = float(lag.mean()) if lag.size else None
    summary["p99_client_lag_ms"] = float(np.percentile(lag, 99)) if lag.size else None
    summary["max_client_lag_ms"] = float(lag.max()) if lag.size else None
    return summary
