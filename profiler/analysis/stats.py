"""The statistics home: every overhead, bootstrap and interval of the tool is computed here.

Capacity planning, suites, comparisons and reports call these functions; nothing else computes
an overhead or a confidence interval (reports render what comparison.json holds).

Overhead (DESIGN §4), in %: latency-like (on − off)/off, throughput-like (off − on)/off;
positive = the TEE costs. The sign convention lives in :func:`overhead` and
:func:`ratio_to_overhead` only.

Bootstrap, vectorised: a resample is a row of integer counts over the N units (requests, or
runs): how many times each unit was drawn. With a (B × N) count matrix every statistic is a
matrix product or a cumulative sum, so 2000 resamples of 1000 requests cost milliseconds.

- ``weights(..., groups=None)``: plain bootstrap, N units drawn with replacement.
- ``weights(..., groups=[...])``: hierarchical (two-stage) bootstrap: draw runs with
  replacement, then units within each drawn run (the token-volume fit over repetitions).
- Paired designs use the *same* count matrix for both legs (request i on ↔ request i off).

Percentiles are numpy's default (linear interpolation between order statistics), computed on the
expanded resample without expanding it: the value at rank r is the first sorted value whose
cumulative count exceeds r.

Run-level interval (repetitions): the run, not the request, is the independent unit. Why not
resample runs: with the 2–5 repetitions a profile has, a bootstrap over runs sees at most a
handful of distinct resamples and its interval is far too narrow (an A/A on this machine, 2 runs
per leg, put 0 outside 99% two-stage-bootstrap intervals for ITL and TTFT: run-to-run drift from
a shared CPU is larger than anything within a run). A t-interval knows how little R runs say.
Method: one value per run (the same definitions as the pooled value), logs (overheads are
ratios, and log makes them symmetric), a Welch interval for the difference of mean logs with
Welch–Satterthwaite degrees of freedom, centred on the point estimate's log ratio. With one run
in one leg, the other leg's run-to-run variance is assumed for both (pooled); with one run in
both legs there is no run-level CI.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as sstats

CONFIDENCE = 0.95


def weights(
    rng: np.random.Generator,
    n_units: int,
    n_boot: int,
    groups: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """(n_boot × n_units) resample counts (float64, so products use BLAS); ``groups`` → two-stage."""
    if n_units == 0:
        return np.zeros((n_boot, 0), dtype=np.float64)
    if not groups or len(groups) == 1:
        # Uniform draws counted per row with one bincount: ~10× faster than rng.multinomial.
        idx = rng.integers(0, n_units, size=(n_boot, n_units))
        idx += np.arange(n_boot)[:, None] * n_units
        return (
            np.bincount(idx.ravel(), minlength=n_boot * n_units).reshape(n_boot, n_units).astype(np.float64)
        )
    out = np.zeros((n_boot, n_units), dtype=np.float64)
    n_runs = len(groups)
    picked = rng.multinomial(n_runs, np.full(n_runs, 1.0 / n_runs), size=n_boot)  # runs drawn, per resample
    for r, idx in enumerate(groups):
        if len(idx) == 0:
            continue
        # A run drawn k times contributes k × its size draws from its own units.
        out[:, idx] = rng.multinomial(picked[:, r] * len(idx), np.full(len(idx), 1.0 / len(idx)))
    return out


def block_weights(
    rng: np.random.Generator,
    groups_on: Sequence[np.ndarray],
    groups_off: Sequence[np.ndarray],
    n_on: int,
    n_off: int,
    n_boot: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Paired two-stage bootstrap over blocks: each resample draws blocks with replacement (the
    same draw for both legs, so a block's runs stay together), then requests within each drawn
    run. ``groups_*[b]`` are the request indices of block b's run in that leg."""
    b = len(groups_on)
    picked = rng.multinomial(b, np.full(b, 1.0 / b), size=n_boot)
    out = []
    for groups, n in ((groups_on, n_on), (groups_off, n_off)):
        w = np.zeros((n_boot, n), dtype=np.float64)
        for k, idx in enumerate(groups):
            if len(idx):
                w[:, idx] = rng.multinomial(picked[:, k] * len(idx), np.full(len(idx), 1.0 / len(idx)))
        out.append(w)
    return out[0], out[1]


def weighted_mean(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per resample mean of ``x`` (NaN = not counted). Rows with no valid unit → NaN."""
    valid = ~np.isnan(x)
    num = w @ np.where(valid, x, 0.0)
    den = w @ valid.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def weighted_ratio(w: np.ndarray, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Per resample Σ w·num / Σ w·den (throughput = tokens / seconds, mean ITL = Σgaps / n)."""
    a, b = w @ num, w @ den
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def count_percentiles(counts: np.ndarray, sorted_values: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Percentiles (len(qs) × B) of B multisets given as counts over ``sorted_values``."""
    counts = np.asarray(counts, dtype=float)
    cum = np.cumsum(counts, axis=1)
    total = cum[:, -1] if cum.shape[1] else np.zeros(cum.shape[0])
    out = np.full((len(qs), counts.shape[0]), np.nan)
    if sorted_values.size == 0:
        return out
    last = sorted_values.size - 1
    for k, q in enumerate(qs):
        h = (total - 1) * q / 100.0
        lo = np.floor(h)
        idx_lo = np.minimum((cum <= lo[:, None]).sum(axis=1), last)
        idx_hi = np.minimum((cum <= np.ceil(h)[:, None]).sum(axis=1), last)
        v_lo, v_hi = sorted_values[idx_lo], sorted_values[idx_hi]
        out[k] = np.where(total > 0, v_lo + (h - lo) * (v_hi - v_lo), np.nan)
    return out


def weighted_percentiles(w: np.ndarray, x: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Percentiles (len(qs) × B) of ``x`` under resample counts ``w`` (NaN = not counted)."""
    valid = ~np.isnan(x)
    order = np.argsort(x[valid], kind="stable")
    return count_percentiles(w[:, valid][:, order], x[valid][order], qs)


#: A bootstrap interval needs this many finite resamples, and this share of them finite: a
#: statistic undefined in more than 10% of resamples has no trustworthy interval.
MIN_FINITE = 20
MIN_FINITE_SHARE = 0.9


def percentile_ci(samples: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Percentile-bootstrap interval of the finite ``samples``; None when too few are finite."""
    samples = np.asarray(samples, dtype=float)
    finite = samples[np.isfinite(samples)]
    if finite.size < MIN_FINITE_SHARE * samples.size or finite.size < MIN_FINITE:
        return None
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(finite, [alpha, 1 - alpha])
    return float(lo), float(hi)


def finite_count(samples: np.ndarray) -> int:
    return int(np.isfinite(np.asarray(samples, dtype=float)).sum())


def overhead(on: np.ndarray | float, off: np.ndarray | float, direction: str) -> np.ndarray:
    """DESIGN §4 in %: latency (on − off)/off; throughput (off − on)/off. Positive = TEE costs."""
    on_a, off_a = np.asarray(on, dtype=float), np.asarray(off, dtype=float)
    diff = on_a - off_a if direction == "latency" else off_a - on_a
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(off_a != 0, 100.0 * diff / np.where(off_a != 0, off_a, 1), np.nan)


def ratio_to_overhead(ratio: np.ndarray | float, direction: str) -> np.ndarray:
    """Overhead in % from on/off ratios (the log-scale intervals end as ratios)."""
    r = np.asarray(ratio, dtype=float)
    return 100.0 * (r - 1) if direction == "latency" else 100.0 * (1 - r)


def overhead_interval(lo_ratio: float, hi_ratio: float, direction: str) -> tuple[float, float]:
    """(low, high) overhead in % from an interval of on/off ratios, ordered low ≤ high."""
    a, b = (float(x) for x in ratio_to_overhead(np.array([lo_ratio, hi_ratio]), direction))
    return (a, b) if a <= b else (b, a)


def significant(ci: tuple[float, float] | None) -> bool | None:
    """True when the interval excludes 0; None when there is no interval."""
    return None if ci is None else bool(ci[0] > 0 or ci[1] < 0)


def bootstrap_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of ``values``."""
    idx = rng.integers(0, values.size, size=(n_boot, values.size))
    means: np.ndarray = values[idx].mean(axis=1)
    return means


# ----------------------------------------------------------------- run-level interval


def indicator(groups: Sequence[np.ndarray], n_units: int) -> np.ndarray:
    """(runs × units) 0/1 matrix: row r selects run r's units (one "resample" per run)."""
    out = np.zeros((len(groups), n_units), dtype=np.int32)
    for r, idx in enumerate(groups):
        out[r, idx] = 1
    return out


def welch_log_ci(
    on_runs: np.ndarray,
    off_runs: np.ndarray,
    point_on: float,
    point_off: float,
    direction: str,
    confidence: float,
) -> tuple[float, float] | None:
    """Overhead CI in % (DESIGN §4 sign) from per-run values of one metric; None if unsupported."""
    a = np.log(on_runs[np.isfinite(on_runs) & (on_runs > 0)])
    b = np.log(off_runs[np.isfinite(off_runs) & (off_runs > 0)])
    if not (point_on > 0 and point_off > 0) or (a.size < 2 and b.size < 2) or a.size == 0 or b.size == 0:
        return None
    if a.size >= 2 and b.size >= 2:
        va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
        se = float(np.sqrt(va + vb))
        denom = (va**2 / (a.size - 1) if va else 0.0) + (vb**2 / (b.size - 1) if vb else 0.0)
        df = (va + vb) ** 2 / denom if denom > 0 else float(a.size + b.size - 2)
    else:
        replicated = a if a.size >= 2 else b
        s2 = replicated.var(ddof=1)
        se = float(np.sqrt(s2 * (1 / a.size + 1 / b.size)))
        df = float(replicated.size - 1)
    centre = float(np.log(point_on / point_off))
    half = float(sstats.t.ppf(0.5 + confidence / 2, df)) * se if se > 0 else 0.0
    return overhead_interval(float(np.exp(centre - half)), float(np.exp(centre + half)), direction)


# ----------------------------------------------------------------- paired blocks


def paired_log_ci(
    d: np.ndarray, direction: str, confidence: float = CONFIDENCE, pilot: int | None = None
) -> tuple[float, tuple[float, float] | None]:
    """(overhead %, CI %) from per-block log ratios ``d`` = log(on/off), in block order.

    The estimate is the geometric mean of the per-block ratios, exp(mean d). The interval is a
    paired t-interval on the logs: mean(d) ± t · s/√n. With ``pilot`` = n0 it is the two-stage
    (Stein) interval: s from the first n0 blocks only, t with n0 − 1 degrees of freedom. Stein's
    interval keeps its coverage exactly (for normal d) even when the number of blocks n was
    chosen from those first n0 blocks, which is what a target-precision profile does.
    """
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return math.nan, None
    centre = float(d.mean())
    point = float(ratio_to_overhead(math.exp(centre), direction))
    s, df = log_sd(d, pilot)
    if s is None or df < 1:
        return point, None
    half = float(sstats.t.ppf(0.5 + confidence / 2, df)) * s / math.sqrt(d.size)
    return point, overhead_interval(math.exp(centre - half), math.exp(centre + half), direction)


def log_sd(d: np.ndarray, pilot: int | None = None) -> tuple[float | None, int]:
    """(standard deviation of the per-block log ratios, its degrees of freedom): from the first
    ``pilot`` blocks when given (Stein), else from all; None with fewer than two."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    use = d[:pilot] if pilot else d
    if use.size < 2:
        return None, 0
    return float(use.std(ddof=1)), int(use.size - 1)


def half_width_pct(s_log: float, n: int, df: int, confidence: float = CONFIDENCE) -> float:
    """The CI half-width in overhead points for n blocks (log scale mapped to %, upper side)."""
    half = float(sstats.t.ppf(0.5 + confidence / 2, df)) * s_log / math.sqrt(n)
    return 100.0 * math.expm1(half)


def mde_pct(s_log: float, n: int, df: int, confidence: float = CONFIDENCE, power: float = 0.80) -> float:
    """The smallest overhead a paired design of n blocks detects (two-sided, ``confidence``,
    with probability ``power``): (t_{1−α/2} + t_{power}) · s/√n on the log scale, as %."""
    delta = (float(sstats.t.ppf(0.5 + confidence / 2, df)) + float(sstats.t.ppf(power, df))) * s_log
    return 100.0 * math.expm1(delta / math.sqrt(n))


def blocks_for(
    s_log: float, target_pct: float, confidence: float = CONFIDENCE, most: int = 100_000
) -> int | None:
    """Blocks needed for a CI half-width ≤ ``target_pct`` points, given a per-block log-ratio
    spread ``s_log`` (None if more than ``most``)."""
    if not target_pct > 0:
        return None
    goal = math.log1p(target_pct / 100.0)
    if s_log <= 0:
        return 2
    # start from the normal approximation, then step until the t quantile agrees
    n = max(2, math.ceil((1.96 * s_log / goal) ** 2))
    while n <= most:
        if float(sstats.t.ppf(0.5 + confidence / 2, n - 1)) * s_log / math.sqrt(n) <= goal:
            return n
        n += 1
    return None


def stein_blocks(s_pilot: float, pilot: int, target_pct: float, confidence: float = CONFIDENCE) -> int:
    """Blocks a two-stage (Stein) design needs for a half-width ≤ ``target_pct`` points: with the
    pilot's spread and t on pilot − 1 degrees of freedom, at least the pilot itself."""
    goal = math.log1p(target_pct / 100.0)
    t = float(sstats.t.ppf(0.5 + confidence / 2, pilot - 1))
    return max(pilot, math.ceil((t * s_pilot / goal) ** 2)) if s_pilot > 0 else pilot
