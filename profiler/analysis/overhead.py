"""Per-metric overhead rows of ``comparison.json`` with their CIs (DESIGN §4).

Which metrics and statistics get a row comes from the metric catalogue (:mod:`catalog.metrics`,
``compared_stats``), in its order. How each statistic is computed from one leg under a (B × N)
matrix of resample counts depends only on the metric's level; the same function with a single
row of ones is the point estimate, so the point and its CI can never disagree on definitions
(one exception: pooled ITL percentiles, see :func:`_pooled`). Request and pooled metrics are
resampled by request; run-level metrics (TPS, QPS, goodput) have one value per run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from catalog.metrics import RUN_STAT, Metric, compared, pct_value
from profiler.analysis import stats
from profiler.analysis.blocks import Blocks
from profiler.analysis.legs import LegData

#: Above this many distinct gaps, pooled percentiles are resampled on quantile bins.
ITL_BINS = 4096


def _quantiles(metric: Metric) -> list[tuple[str, float]]:
    out = []
    for stat in metric.compared_stats:
        q = pct_value(stat)
        if q is not None:
            out.append((stat, q))
        elif stat != "mean":
            raise ValueError(f"metric {metric.name}: a comparison cannot resample {stat!r}")
    return out


def _request(metric: Metric, leg: LegData, w: np.ndarray) -> dict[str, np.ndarray]:
    x = leg.request(metric.name)
    qs = _quantiles(metric)
    out = {"mean": stats.weighted_mean(w, x)}
    if qs:
        pct = stats.weighted_percentiles(w, x, [q for _, q in qs])
        out.update({stat: pct[k] for k, (stat, _) in enumerate(qs)})
    return out


def _pooled(metric: Metric, leg: LegData, w: np.ndarray) -> dict[str, np.ndarray]:
    """Pooled values (vLLM pools ITL gaps over requests) resampled by *request*, gaps kept together.

    Each request's gaps are a histogram row; a resample's pooled histogram is counts @ rows. With
    ≤ ITL_BINS distinct values the bins are the values themselves (exact); above that they are
    quantile bins represented by their mean, so resampled percentiles are off by at most one bin
    width (≈ 1/4096 of the data's rank range). Point estimates are always exact.
    """
    p = leg.pooled[metric.name]
    qs = _quantiles(metric)
    out = {"mean": stats.weighted_ratio(w, p.sums, p.counts)}
    if not qs:
        return out
    values = p.values
    if values.size == 0:
        nan = np.full(w.shape[0], np.nan)
        return {**out, **{stat: nan for stat, _ in qs}}
    if w.shape[0] == 1 and np.all(w == 1):
        exact = np.percentile(values, [q for _, q in qs])
        return {**out, **{stat: exact[k : k + 1] for k, (stat, _) in enumerate(qs)}}
    uniq = np.unique(values)
    if uniq.size <= ITL_BINS:
        reps, bin_of = uniq, np.searchsorted(uniq, values)
    else:
        edges = np.unique(np.quantile(values, np.linspace(0, 1, ITL_BINS + 1)))
        bin_of = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, edges.size - 2)
        sums = np.bincount(bin_of, weights=values, minlength=edges.size - 1)
        cnt = np.bincount(bin_of, minlength=edges.size - 1)
        keep = cnt > 0
        reps = sums[keep] / cnt[keep]
        bin_of = np.cumsum(keep)[bin_of] - 1
    hist = sparse.csr_matrix((np.ones(values.size), (p.owner, bin_of)), shape=(leg.n, reps.size))
    counts = np.asarray((hist.T @ w.T.astype(float)).T)
    pct = stats.count_percentiles(counts, reps, [q for _, q in qs])
    return {**out, **{stat: pct[k] for k, (stat, _) in enumerate(qs)}}


def _run(metric: Metric, leg: LegData, w: np.ndarray) -> dict[str, np.ndarray]:
    seconds = leg.run_windows.get(metric.name, leg.run_seconds)
    totals = leg.run_totals[metric.name]
    if not (np.isfinite(totals).all() and np.isfinite(seconds).all()):  # no steady window in a run
        return {RUN_STAT: np.full(w.shape[0], np.nan)}
    return {RUN_STAT: stats.weighted_ratio(w, totals, seconds)}


COMPUTE = {"request": _request, "pooled": _pooled, "run": _run}


def compute(metric: Metric, leg: LegData, w: np.ndarray) -> dict[str, np.ndarray]:
    """Every compared statistic of ``metric`` on ``leg`` under resample counts ``w``."""
    return COMPUTE[metric.level](metric, leg, w)


def _sample_count(leg: LegData, metric: Metric) -> int:
    if metric.level == "pooled":
        return int(leg.pooled[metric.name].values.size)
    if metric.level == "run":
        return int(leg.ok.sum())
    return int(np.isfinite(leg.request(metric.name)).sum())


def _groups(leg: LegData, metric: Metric) -> list[np.ndarray]:
    return leg.run_groups if metric.level == "run" else leg.groups


def _units(leg: LegData, metric: Metric) -> int:
    return len(leg.run_seconds) if metric.level == "run" else leg.n


def _level(metric: Metric) -> str:
    return "run" if metric.level == "run" else "request"


def per_run(metric: Metric, leg: LegData) -> dict[str, np.ndarray]:
    """Every compared statistic of ``metric`` computed once per run of ``leg``."""
    return compute(metric, leg, stats.indicator(_groups(leg, metric), _units(leg, metric)))


def run_values(
    on: LegData, off: LegData, *, with_goodput: bool
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """summary key → (per-run values on, per-run values off) of every compared statistic."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for metric in compared():
        if metric.needs_slos and not with_goodput:
            continue
        runs_on, runs_off = per_run(metric, on), per_run(metric, off)
        for stat in metric.compared_stats:
            pair = (np.asarray(runs_on[stat], float), np.asarray(runs_off[stat], float))
            out[metric.summary_key(stat)] = pair
    return out


def block_log_ratios(
    on: LegData, off: LegData, blocks: Blocks, *, with_goodput: bool
) -> dict[str, tuple[Metric, str, np.ndarray]]:
    """summary key → (metric, statistic, log(on/off) of each block, in block order)."""
    out: dict[str, tuple[Metric, str, np.ndarray]] = {}
    for metric in compared():
        if metric.needs_slos and not with_goodput:
            continue
        runs_on, runs_off = per_run(metric, on), per_run(metric, off)
        for stat in metric.compared_stats:
            a = np.asarray(runs_on[stat], dtype=float)[blocks.on]
            b = np.asarray(runs_off[stat], dtype=float)[blocks.off]
            with np.errstate(invalid="ignore", divide="ignore"):
                d = np.where((a > 0) & (b > 0), np.log(np.where(a > 0, a, 1) / np.where(b > 0, b, 1)), np.nan)
            out[metric.summary_key(stat)] = (metric, stat, d)
    return out


def metric_rows(
    on: LegData,
    off: LegData,
    weights: dict[str, tuple[np.ndarray | None, np.ndarray | None]],
    *,
    with_goodput: bool,
    confidence: float = stats.CONFIDENCE,
    by_run: bool = False,
    blocks: Blocks | None = None,
    pilot: int | None = None,
) -> list[dict[str, Any]]:
    """One row per compared statistic. ``weights["request"|"run"]`` = (on counts, off counts);
    None = no CI possible. ``by_run``: repetitions; the CI comes from per-run values
    (:func:`stats.welch_log_ci`), not ``weights``. ``blocks``: paired blocks; the estimate and
    CI come from the per-block log ratios (:func:`stats.paired_log_ci`, two-stage with a
    ``pilot``)."""
    ratios = block_log_ratios(on, off, blocks, with_goodput=with_goodput) if blocks is not None else {}
    rows = []
    for metric in compared():
        if metric.needs_slos and not with_goodput:
            continue
        w_on, w_off = weights[_level(metric)]
        point_on = compute(metric, on, np.ones((1, _units(on, metric)), dtype=np.int32))
        point_off = compute(metric, off, np.ones((1, _units(off, metric)), dtype=np.int32))
        if by_run:
            runs_on, runs_off = per_run(metric, on), per_run(metric, off)
        elif blocks is None:
            boot_on = compute(metric, on, w_on) if w_on is not None else None
            boot_off = compute(metric, off, w_off) if w_off is not None else None
        for stat in metric.compared_stats:
            v_on, v_off = float(point_on[stat][0]), float(point_off[stat][0])
            ov = float(stats.overhead(v_on, v_off, metric.direction))
            ci = None
            if blocks is not None:
                d = ratios[metric.summary_key(stat)][2]
                ov, ci = stats.paired_log_ci(d, metric.direction, confidence, pilot)
            elif by_run:
                ci = stats.welch_log_ci(
                    runs_on[stat], runs_off[stat], v_on, v_off, metric.direction, confidence
                )
            elif boot_on is not None and boot_off is not None:
                ci = stats.percentile_ci(
                    stats.overhead(boot_on[stat], boot_off[stat], metric.direction), confidence
                )
            rows.append(
                {
                    "metric": metric.summary_key(stat),
                    "family": metric.name,
                    "stat": stat,
                    "direction": metric.direction,
                    "unit": metric.unit,
                    "on": _num(v_on),
                    "off": _num(v_off),
                    "overhead_pct": _num(ov),
                    "ci_low": float(ci[0]) if ci else None,
                    "ci_high": float(ci[1]) if ci else None,
                    "significant": stats.significant(ci),
                    "n_on": _sample_count(on, metric),
                    "n_off": _sample_count(off, metric),
                }
            )
    return rows


def _num(x: float) -> float | None:
    return x if np.isfinite(x) else None
