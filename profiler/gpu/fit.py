"""Fixed cost and asymptotic bandwidth of a copy from a sweep of sizes.

A copy of ``x`` bytes takes ``t = latency + x / bandwidth``. ``latency`` is the toll paid per
crossing whatever its size (driver, bounce-buffer bookkeeping, encryption setup and, for a
synchronous copy, the round trip); ``bandwidth`` is what large copies approach.

Times span five or more decades (µs for 4 KiB, 100 ms for 1 GiB), so an ordinary least-squares
fit would let the largest sizes decide everything and leave the latency to their noise. We
minimise the *relative* residuals instead, Σ((t_i − a − b·x_i) / t_i)², a weighted least squares
that is linear in (a, b): each size counts by its relative error, which is what repeated timing
gives (noise roughly proportional to the time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

MIN_POINTS = 3


@dataclass(frozen=True)
class CopyFit:
    ok: bool
    reason: str | None
    n: int
    latency_us: float | None = None
    latency_ci_us: tuple[float, float] | None = None
    bandwidth_gbps: float | None = None  # 10^9 bytes/s
    #: upper end None when the slope's interval reaches zero (bandwidth unbounded above)
    bandwidth_ci_gbps: tuple[float, float | None] | None = None
    rms_rel_resid: float | None = None  # root mean square of (t - fit) / t
    max_rel_resid: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _t95(dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def fit_copy_times(nbytes: Sequence[float], seconds: Sequence[float]) -> CopyFit:
    """Fit ``seconds = latency + nbytes / bandwidth`` by relative least squares (pure)."""
    x = np.asarray(nbytes, dtype=float)
    t = np.asarray(seconds, dtype=float)
    keep = np.isfinite(x) & np.isfinite(t) & (t > 0) & (x > 0)
    x, t = x[keep], t[keep]
    n = int(x.size)
    if n < MIN_POINTS or np.unique(x).size < 2:
        return CopyFit(False, f"need at least {MIN_POINTS} sizes with a positive time, got {n}", n)
    design = np.column_stack([1.0 / t, x / t])
    (a, b), *_ = np.linalg.lstsq(design, np.ones(n), rcond=None)
    rel = (t - a - b * x) / t
    if b <= 0 or b * x.max() <= 1e-6 * abs(a):  # flat: size adds nothing measurable
        return CopyFit(False, "time does not grow with size (slope <= 0): no bandwidth to fit", n,
                       rms_rel_resid=float(np.sqrt(np.mean(rel**2))))
    dof = n - 2
    lat_ci = bw_ci = None
    if dof > 0:
        s2 = float(rel @ rel) / dof
        cov = s2 * np.linalg.inv(design.T @ design)
        se_a, se_b = math.sqrt(max(cov[0, 0], 0.0)), math.sqrt(max(cov[1, 1], 0.0))
        q = _t95(dof)
        lat_ci = ((a - q * se_a) * 1e6, (a + q * se_a) * 1e6)
        b_lo, b_hi = b - q * se_b, b + q * se_b
        # bandwidth = 1/b: the interval inverts, unbounded above when b's interval reaches 0
        bw_ci = (1.0 / b_hi / 1e9, (1.0 / b_lo / 1e9) if b_lo > 0 else None)
    return CopyFit(
        ok=True, reason=None, n=n,
        latency_us=float(a * 1e6), latency_ci_us=lat_ci,
        bandwidth_gbps=float(1.0 / b / 1e9), bandwidth_ci_gbps=bw_ci,
        rms_rel_resid=float(np.sqrt(np.mean(rel**2))), max_rel_resid=float(np.max(np.abs(rel))),
    )
