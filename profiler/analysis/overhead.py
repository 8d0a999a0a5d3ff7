"""Per-metric overhead with bootstrap CIs (DESIGN §4).

Every metric family registers how to compute its statistics from one leg under a (B × N) matrix
of resample counts. The same function with a single row of ones is the point estimate, so the
point and its CI can never disagree on definitions (one exception: pooled ITL percentiles, see
``_itl``). Request families (TTFT, TPOT, E2EL, ITL) are resampled by request; throughput families
(TPS, QPS, goodput) by window (see ``legs``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from catalog.registry import Registry
from profiler.analysis import bootstrap as bs
from profiler.analysis import repetitions as reps
from profiler.analysis.legs import Leg

PERCENTILES = (50.0, 90.0, 99.0)
LATENCY_STATS = ("mean", "p50", "p90", "p99")
#: Above this many distinct gaps, pooled-ITL percentiles are resampled on quantile bins.
ITL_BINS = 4096


@dataclass(frozen=True)
class Family:
    name: str
    direction: str  # "latency" | "throughput"
    unit: str
    level: str  # "request" (per request) | "run" (one value per run: throughput)
    stats: tuple[str, ...]
    compute: Callable[[Leg, np.ndarray], dict[str, np.ndarray]]
    key: Callable[[str], str]  # stat → summary/metric key (vLLM's names)
    needs_slos: bool = False


FAMILIES: Registry[Family] = Registry("metric family")


def _latency_key(family: str) -> Callable[[str], str]:
    return lambda stat: f"{stat}_{family}_ms"


def _request_family(column: str) -> Callable[[Leg, np.ndarray], dict[str, np.ndarray]]:
    def compute(leg: Leg, w: np.ndarray) -> dict[str, np.ndarray]:
        x = getattr(leg, column)
        pct = bs.weighted_percentiles(w, x, PERCENTILES)
        return {"mean": bs.weighted_mean(w, x), "p50": pct[0], "p90": pct[1], "p99": pct[2]}

    return compute


def _itl(leg: Leg, w: np.ndarray) -> dict[str, np.ndarray]:
    """Pooled ITL (vLLM pools gaps over requests) resampled by *request*, gaps kept together.

    Each request's gaps are a histogram row; a resample's pooled histogram is counts @ rows. With
    ≤ ITL_BINS distinct gap values the bins are the values themselves (exact); above that they
    are quantile bins represented by their mean, so resampled percentiles are off by at most one
    bin width (≈ 1/4096 of the data's rank range). Point estimates are always exact.
    """
    out = {"mean": bs.weighted_ratio(w, leg.itl_sum, leg.itl_count)}
    values = leg.itl_pooled
    if values.size == 0:
        nan = np.full(w.shape[0], np.nan)
        return {**out, "p50": nan, "p90": nan, "p99": nan}
    if w.shape[0] == 1 and np.all(w == 1):
        exact = np.percentile(values, PERCENTILES)
        return {**out, "p50": exact[:1], "p90": exact[1:2], "p99": exact[2:]}
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
    hist = sparse.csr_matrix((np.ones(values.size), (leg.itl_owner, bin_of)), shape=(leg.n, reps.size))
    counts = np.asarray((hist.T @ w.T.astype(float)).T)
    pct = bs.count_percentiles(counts, reps, PERCENTILES)
    return {**out, "p50": pct[0], "p90": pct[1], "p99": pct[2]}


def _window_family(attr: str) -> Callable[[Leg, np.ndarray], dict[str, np.ndarray]]:
    def compute(leg: Leg, w: np.ndarray) -> dict[str, np.ndarray]:
        return {"value": bs.weighted_ratio(w, getattr(leg, attr), leg.run_seconds)}

    return compute


for _name, _col in (("ttft", "ttft"), ("tpot", "tpot"), ("itl", None), ("e2el", "e2el")):
    FAMILIES.add(
        _name,
        Family(
            _name,
            "latency",
            "ms",
            "request",
            LATENCY_STATS,
            _request_family(_col) if _col else _itl,
            _latency_key(_name),
        ),
    )
FAMILIES.add(
    "tps",
    Family(
        "tps",
        "throughput",
        "tok/s",
        "run",
        ("value",),
        _window_family("run_tokens"),
        lambda s: "output_throughput",
    ),
)
FAMILIES.add(
    "qps",
    Family(
        "qps",
        "throughput",
        "req/s",
        "run",
        ("value",),
        _window_family("run_done"),
        lambda s: "request_throughput",
    ),
)
FAMILIES.add(
    "goodput",
    Family(
        "goodput",
        "throughput",
        "req/s",
        "run",
        ("value",),
        _window_family("run_good"),
        lambda s: "request_goodput",
        needs_slos=True,
    ),
)
#: Report order (the registry itself is sorted by name).
ORDER = ("ttft", "tpot", "itl", "e2el", "tps", "qps", "goodput")


def _sample_count(leg: Leg, family: Family) -> int:
    if family.name == "itl":
        return int(leg.itl_pooled.size)
    if family.level == "run":
        return int(leg.ok.sum())
    return int(np.isfinite(getattr(leg, family.name)).sum())


def metric_rows(
    on: Leg,
    off: Leg,
    weights: dict[str, tuple[np.ndarray | None, np.ndarray | None]],
    *,
    with_goodput: bool,
    confidence: float = bs.CONFIDENCE,
    by_run: bool = False,
) -> list[dict[str, Any]]:
    """One row per metric. ``weights[level]`` = (on counts, off counts); None = no CI possible.

    ``by_run``: repetitions; the CI comes from per-run values (``repetitions``), not ``weights``.
    """
    rows = []
    for name in ORDER:
        family = FAMILIES.get(name)
        if family.needs_slos and not with_goodput:
            continue
        w_on, w_off = weights[family.level]
        point_on = family.compute(on, np.ones((1, _units(on, family)), dtype=np.int32))
        point_off = family.compute(off, np.ones((1, _units(off, family)), dtype=np.int32))
        if by_run:
            runs_on = family.compute(on, reps.indicator(_groups(on, family), _units(on, family)))
            runs_off = family.compute(off, reps.indicator(_groups(off, family), _units(off, family)))
        else:
            boot_on = family.compute(on, w_on) if w_on is not None else None
            boot_off = family.compute(off, w_off) if w_off is not None else None
        for stat in family.stats:
            v_on, v_off = float(point_on[stat][0]), float(point_off[stat][0])
            ov = float(bs.overhead(v_on, v_off, family.direction))
            ci = None
            if by_run:
                ci = reps.welch_log_ci(
                    runs_on[stat], runs_off[stat], v_on, v_off, family.direction, confidence
                )
            elif boot_on is not None and boot_off is not None:
                ci = bs.percentile_ci(
                    bs.overhead(boot_on[stat], boot_off[stat], family.direction), confidence
                )
            rows.append(
                {
                    "metric": family.key(stat),
                    "family": family.name,
                    "stat": stat,
                    "direction": family.direction,
                    "unit": family.unit,
                    "on": _num(v_on),
                    "off": _num(v_off),
                    "overhead_pct": _num(ov),
                    "ci_low": float(ci[0]) if ci else None,
                    "ci_high": float(ci[1]) if ci else None,
                    "significant": bool(ci[0] > 0 or ci[1] < 0) if ci else None,
                    "n_on": _sample_count(on, family),
                    "n_off": _sample_count(off, family),
                }
            )
    return rows


def _groups(leg: Leg, family: Family) -> list[np.ndarray]:
    return leg.groups if family.level == "request" else leg.run_groups


def _units(leg: Leg, family: Family) -> int:
    return leg.n if family.level == "request" else len(leg.run_seconds)


def _num(x: float) -> float | None:
    return x if np.isfinite(x) else None
