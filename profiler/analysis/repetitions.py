"""CIs from repetitions: the run, not the request, is the independent unit.

Why not resample runs: with the 2–5 repetitions a profile has, a bootstrap over runs sees at most
a handful of distinct resamples and its interval is far too narrow (an A/A on this machine, 2 runs
per leg, put 0 outside 99% two-stage-bootstrap intervals for ITL and TTFT: run-to-run drift from
a shared CPU is larger than anything within a run). A t-interval knows how little R runs say.

Method: compute each metric once per run (the same definitions as the pooled value), take logs
(overheads are ratios, and log makes them symmetric), and form a Welch interval for the
difference of mean logs with Welch–Satterthwaite degrees of freedom. It is centred on the pooled
point estimate's log ratio. With one run in one leg, the other leg's run-to-run variance is
assumed for both (pooled); with one run in both legs there is no run-level CI (see compare).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


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
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se if se > 0 else 0.0
    lo_ratio, hi_ratio = np.exp(centre - half), np.exp(centre + half)
    if direction == "latency":
        return 100.0 * (lo_ratio - 1), 100.0 * (hi_ratio - 1)
    return 100.0 * (1 - hi_ratio), 100.0 * (1 - lo_ratio)  # (off − on)/off = 1 − on/off
