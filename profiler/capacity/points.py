"""A load point: one run directory of a sweep, reduced to what capacity planning needs.

Latency statistics are recomputed from ``requests.parquet`` with the same function the bootstrap
uses (so the point estimate and its CI come from one definition); the run's ``summary.json`` is the
fallback for runs stored without requests (and agrees with it: both are NaN-dropping
``numpy.percentile`` over successful requests, DESIGN §3).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from catalog.metrics import METRICS, slo_names
from loadgen.metrics import measured
from profiler.store import read_run

_STAT = re.compile(r"^(mean|median|p\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class SloStat:
    """A latency statistic an SLO can bound: ``ttft_p99_ms`` = p99 of TTFT in ms."""

    family: str  # ttft | tpot | e2el
    stat: str  # mean | median | p50 | p99 | p99.9 …

    def __post_init__(self) -> None:
        if self.family not in slo_names():
            raise ValueError(f"unknown latency {self.family!r}; known: {', '.join(slo_names())}")
        if not _STAT.match(self.stat):
            raise ValueError(f"unknown statistic {self.stat!r}; use mean, median or pNN (e.g. p99)")
        if self.stat.startswith("p") and not 0 <= float(self.stat[1:]) <= 100:
            raise ValueError(f"percentile out of range: {self.stat}")

    @property
    def name(self) -> str:
        return f"{self.family}_{self.stat}_ms"

    @property
    def summary_key(self) -> str:
        """vLLM's name for it in summary.json (``p99_ttft_ms``)."""
        return f"{self.stat}_{self.family}_ms"

    @property
    def label(self) -> str:
        stat = "P" + self.stat[1:] if self.stat.startswith("p") else self.stat
        return f"{stat} {self.family.upper()} (ms)"

    def of(self, values: np.ndarray, axis: int | None = None) -> Any:
        """The statistic of ``values`` ignoring NaN (failed requests, 1-token TPOT).

        With ``axis=1`` on a 2-D array: one value per row (the bootstrap's replicates).
        """
        with np.errstate(all="ignore"):
            if self.stat == "mean":
                return np.nanmean(values, axis=axis)
            q = 50.0 if self.stat == "median" else float(self.stat[1:])
            if axis is None:
                return np.nanpercentile(values, q)
            return nanpercentile_rows(values, q)

    @classmethod
    def parse(cls, text: str) -> SloStat:
        """``ttft_p99_ms`` (also vLLM's order ``p99_ttft_ms``; the ``_ms`` suffix is optional)."""
        parts = text.strip().lower().removesuffix("_ms").split("_")
        if len(parts) == 2:
            a, b = parts
            return cls(a, b) if a in slo_names() else cls(b, a)
        raise ValueError(f"cannot read {text!r}; write it like ttft_p99_ms")


def nanpercentile_rows(a: np.ndarray, q: float) -> np.ndarray:
    """Per row of a 2-D array, numpy's default (linear) percentile ignoring NaN — vectorised.

    ``np.nanpercentile(axis=1)`` loops over rows in Python; sorting once (NaN sorts last) and
    interpolating between the order statistics is the same number, thousands of times faster.
    """
    s = np.sort(a, axis=1)
    k = np.sum(~np.isnan(a), axis=1)
    pos = q / 100.0 * np.maximum(k - 1, 0)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, np.maximum(k - 1, 0))
    v_lo = np.take_along_axis(s, lo[:, None], axis=1)[:, 0]
    v_hi = np.take_along_axis(s, hi[:, None], axis=1)[:, 0]
    out = v_lo + (pos - lo) * (v_hi - v_lo)
    return np.where(k > 0, out, np.nan)


#: What the tables and plots show when no SLO names a metric.
DEFAULT_METRICS: tuple[SloStat, ...] = (
    SloStat("ttft", "p99"),
    SloStat("tpot", "p99"),
    SloStat("e2el", "p99"),
)


@dataclass(frozen=True)
class Samples:
    """Per-request arrays of one point (NaN where a request failed), for statistics and bootstrap."""

    ok: np.ndarray  # bool
    latency: Mapping[str, np.ndarray]  # family -> ms, NaN for failed requests
    output_tokens: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Samples:
        frame = measured(frame)
        ok = frame["ok"].astype(bool).to_numpy()
        lat = {}
        for fam in slo_names():
            per_request = METRICS.get(fam).per_request
            assert per_request is not None
            lat[fam] = per_request(frame)
        out = frame["output_tokens"].to_numpy(dtype=float, na_value=np.nan)
        return cls(ok=ok, latency=lat, output_tokens=np.where(ok, out, np.nan))


@dataclass(frozen=True)
class LoadPoint:
    """One measured load level on one leg."""

    load: float  # the swept parameter: concurrency, or request rate (req/s)
    qps: float  # completed requests / s (DESIGN §3)
    output_tps: float  # output tokens / s
    error_rate: float = 0.0
    closed_loop: bool = True  # concurrency sweep (rate = inf) vs open-loop rate sweep
    lag_p99_ms: float | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)
    samples: Samples | None = None
    run: str | None = None  # run directory, relative to the sweep directory
    status: str = "complete"
    parts: tuple[LoadPoint, ...] = ()  # the repetitions this point pools (empty: one run)

    @property
    def runs(self) -> list[str]:
        return [p.run for p in self.parts if p.run] if self.parts else ([self.run] if self.run else [])

    def value(self, metric: SloStat) -> float:
        """The metric at this point: from the requests when stored, else from summary.json."""
        if self.samples is not None:
            v = self.samples.latency[metric.family]
            return float(metric.of(v)) if np.isfinite(v).any() else math.nan
        if self.parts:  # repetitions stored without requests: the mean of their statistics
            return float(np.mean([p.value(metric) for p in self.parts]))
        raw = self.summary.get(metric.summary_key)
        return math.nan if raw is None else float(raw)

    @property
    def tokens_per_request(self) -> float:
        return self.output_tps / self.qps if self.qps > 0 else math.nan


def combine(parts: Sequence[LoadPoint]) -> LoadPoint:
    """One point from repeated runs at the same load: throughputs averaged over runs, latency
    statistics over the pooled requests, failures pooled, the worst client lag."""
    if len(parts) == 1:
        return parts[0]
    samples = None
    if all(p.samples is not None for p in parts):
        ss = [p.samples for p in parts if p.samples is not None]
        samples = Samples(
            ok=np.concatenate([x.ok for x in ss]),
            latency={f: np.concatenate([x.latency[f] for x in ss]) for f in slo_names()},
            output_tokens=np.concatenate([x.output_tokens for x in ss]),
        )
    n = [len(p.samples.ok) if p.samples is not None else 1 for p in parts]
    lags = [p.lag_p99_ms for p in parts if p.lag_p99_ms is not None]
    return LoadPoint(
        load=parts[0].load,
        qps=float(np.mean([p.qps for p in parts])),
        output_tps=float(np.mean([p.output_tps for p in parts])),
        error_rate=float(np.average([p.error_rate for p in parts], weights=n)),
        closed_loop=parts[0].closed_loop,
        lag_p99_ms=max(lags) if lags else None,
        summary={},
        samples=samples,
        run=parts[0].run,
        status="complete" if all(p.status == "complete" for p in parts) else "incomplete",
        parts=tuple(parts),
    )



def point_from_run(path: Path, load: float, *, closed_loop: bool, rel_to: Path | None = None) -> LoadPoint:
    """Read one run directory of a sweep into a :class:`LoadPoint`."""
    run = read_run(path)
    s = run.llm
    completed, failed = s.completed, s.failed
    frame = run.table("requests")
    samples = Samples.from_frame(frame) if frame is not None and len(frame) else None
    total = completed + failed
    return LoadPoint(
        load=float(load),
        qps=s.value("request_throughput") or 0.0,
        output_tps=s.value("output_throughput") or 0.0,
        error_rate=failed / total if total else 1.0,
        closed_loop=closed_loop,
        lag_p99_ms=s.value("p99_client_lag_ms"),
        summary=s.model_dump(),
        samples=samples,
        run=str(path.relative_to(rel_to)) if rel_to is not None else str(path),
        status=run.manifest.status,
    )
