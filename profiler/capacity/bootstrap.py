"""Confidence intervals for SLO-bound capacity, carried from the requests of every load point.

Method (see docs/capacity.md): a non-parametric bootstrap over requests,
per load point and per leg independently (the legs are separate runs). In each replicate every
point's requests are resampled with replacement, the SLO statistics (e.g. p99 TTFT) and the failed
fraction are recomputed, and the same :func:`profiler.capacity.slo.capacity` runs on the
replicate curve. The spread of the replicate capacities — and of anything derived from both legs
in the same replicate (capacity overhead, cost-performance ratio) — gives percentile 95% CIs.

Throughput of a replicate point: on closed-loop (concurrency) points Little's law ties it to the
latency, QPS = concurrency / mean request time, so the replicate QPS is the measured QPS scaled by
mean E2EL / replicate mean E2EL. On open-loop (rate) points the arrival process fixed the
throughput; it is kept as measured. Output tokens/s follow QPS × tokens per request.

With one run per point the CI does not contain drift between runs, and DESIGN §7 reports
run-to-run noise on the CPU engine larger than the within-run spread. ``sweep --repeats R`` runs
every point R times; such points are bootstrapped in two stages (runs with replacement, then
requests within each drawn run), so the drift between runs enters the CI.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from profiler.capacity.points import LoadPoint
from profiler.capacity.slo import ERROR_RATE, Capacity, Curve, Slos, capacity


@dataclass(frozen=True)
class Replicates:
    """Per leg, the replicate capacities (NaN where a replicate met the SLOs at no load)."""

    qps: Mapping[str, np.ndarray]
    output_tps: Mapping[str, np.ndarray]
    n_boot: int
    seed: int
    fixed_points: int  # points stored without requests: constant across replicates


def _point_replicates(
    p: LoadPoint, slos: Slos, n_boot: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """n_boot replicate values of this point's qps, output_tps, SLO statistics and error rate."""
    const = {m.name: np.full(n_boot, p.value(m)) for m in slos.limits}
    const.update(
        qps=np.full(n_boot, p.qps), output_tps=np.full(n_boot, p.output_tps),
        **{ERROR_RATE: np.full(n_boot, p.error_rate)},
    )
    if len(p.parts) > 1 and all(q.samples is not None and len(q.samples.ok) for q in p.parts):
        return _repeated_replicates(p, slos, n_boot, rng)
    s = p.samples
    if s is None or len(s.ok) == 0:
        return const
    n = len(s.ok)
    idx = rng.integers(0, n, size=(n_boot, n))
    out: dict[str, np.ndarray] = {}
    for m in slos.limits:
        out[m.name] = np.asarray(m.of(s.latency[m.family][idx], axis=1), dtype=float)
    out[ERROR_RATE] = 1.0 - s.ok[idx].mean(axis=1)
    with np.errstate(all="ignore"):
        if p.closed_loop:
            e2el = s.latency["e2el"]
            scale = np.nanmean(e2el) / np.nanmean(e2el[idx], axis=1)
        else:
            scale = np.ones(n_boot)
        tpr = np.nanmean(s.output_tokens)
        tpr_b = np.nanmean(s.output_tokens[idx], axis=1)
        tok_scale = tpr_b / tpr if tpr > 0 else np.ones(n_boot)
    out["qps"] = np.nan_to_num(p.qps * scale, nan=0.0)
    out["output_tps"] = np.nan_to_num(p.output_tps * scale * tok_scale, nan=0.0)
    return out


def _repeated_replicates(
    p: LoadPoint, slos: Slos, n_boot: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Two-stage bootstrap of a point measured in R runs: draw R runs with replacement (the
    run-to-run drift), then min(run size) requests within each drawn run; throughputs are the
    mean over the drawn runs' measured values."""
    parts = p.parts
    r = len(parts)
    samples = [q.samples for q in parts if q.samples is not None]
    m = min(len(x.ok) for x in samples)
    inner = [rng.integers(0, len(x.ok), size=(n_boot, m)) for x in samples]
    choose = rng.integers(0, r, size=(n_boot, r))
    rows = np.arange(n_boot)[:, None]

    def pooled(arrays: Sequence[np.ndarray]) -> np.ndarray:
        stacked = np.stack([a[i] for a, i in zip(arrays, inner, strict=True)])  # (r, n_boot, m)
        return stacked[choose, rows, :].reshape(n_boot, r * m)

    out: dict[str, np.ndarray] = {}
    for metric in slos.limits:
        values = pooled([x.latency[metric.family] for x in samples])
        out[metric.name] = np.asarray(metric.of(values, axis=1), dtype=float)
    out[ERROR_RATE] = 1.0 - pooled([x.ok.astype(float) for x in samples]).mean(axis=1)
    out["qps"] = np.array([q.qps for q in parts])[choose].mean(axis=1)
    out["output_tps"] = np.array([q.output_tps for q in parts])[choose].mean(axis=1)
    return out


def replicate_capacities(
    legs: Mapping[str, Sequence[LoadPoint]],
    slos: Slos,
    saturated: Mapping[str, bool],
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> Replicates:
    """Bootstrap the capacity of every leg (see the module doc)."""
    rng = np.random.default_rng(seed)
    qps: dict[str, np.ndarray] = {}
    tps: dict[str, np.ndarray] = {}
    fixed = 0
    for leg, points in legs.items():
        reps = [_point_replicates(p, slos, n_boot, rng) for p in points]
        fixed += sum(p.samples is None for p in points)
        names = [m.name for m in slos.limits] + [ERROR_RATE]
        q = np.full(n_boot, math.nan)
        t = np.full(n_boot, math.nan)
        closed = all(p.closed_loop for p in points)
        loads = [p.load for p in points]
        # (n_boot, n_points) nested lists: one conversion instead of n_boot × n_points indexings
        cols = {k: np.stack([r[k] for r in reps], axis=1).tolist() for k in [*names, "qps", "output_tps"]}
        for b in range(n_boot):
            curve = Curve(
                loads=loads,
                qps=cols["qps"][b],
                output_tps=cols["output_tps"][b],
                values={k: cols[k][b] for k in names},
                closed_loop=closed,
            )
            cap: Capacity = capacity(curve, slos, saturated=saturated.get(leg, False))
            if cap.qps is not None:
                q[b] = cap.qps
                t[b] = cap.output_tps if cap.output_tps is not None else math.nan
        qps[leg], tps[leg] = q, t
    return Replicates(qps=qps, output_tps=tps, n_boot=n_boot, seed=seed, fixed_points=fixed)
