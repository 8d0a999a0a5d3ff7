"""The copy-size fit recovers a known latency and bandwidth from synthetic sweeps."""

from __future__ import annotations

import numpy as np
import pytest

from profiler.gpu.bench import copy_sizes
from profiler.gpu.fit import fit_copy_times

SIZES = copy_sizes(4 << 10, 1 << 30, 4)  # 4 KiB … 1 GiB: 10 sizes


def _times(latency_us: float, gbps: float, noise: float = 0.0, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    t = latency_us * 1e-6 + np.asarray(SIZES, dtype=float) / (gbps * 1e9)
    return list(t * (1 + noise * rng.standard_normal(t.size)))


def test_sizes_ladder() -> None:
    assert SIZES[0] == 4096 and SIZES[-1] == 1 << 30 and len(SIZES) == 10
    assert copy_sizes(1000, 5000, 2) == [1000, 2000, 4000, 5000]
    with pytest.raises(ValueError):
        copy_sizes(0, 10, 2)


@pytest.mark.parametrize(("latency_us", "gbps"), [(12.0, 5.2), (2.0, 50.0), (80.0, 1.5)])
def test_exact_data_gives_the_exact_parameters(latency_us: float, gbps: float) -> None:
    fit = fit_copy_times(SIZES, _times(latency_us, gbps))
    assert fit.ok and fit.n == len(SIZES)
    assert fit.latency_us == pytest.approx(latency_us, rel=1e-6)
    assert fit.bandwidth_gbps == pytest.approx(gbps, rel=1e-6)
    assert fit.rms_rel_resid is not None and fit.rms_rel_resid < 1e-9


def test_noisy_data_recovers_the_parameters_and_the_ci_covers_them() -> None:
    covered_lat = covered_bw = 0
    seeds = range(200)
    for seed in seeds:
        fit = fit_copy_times(SIZES, _times(12.0, 5.2, noise=0.03, seed=seed))
        assert fit.ok and fit.latency_ci_us and fit.bandwidth_ci_gbps
        assert fit.latency_us == pytest.approx(12.0, rel=0.08)
        assert fit.bandwidth_gbps == pytest.approx(5.2, rel=0.06)
        lo, hi = fit.latency_ci_us
        covered_lat += lo <= 12.0 <= hi
        blo, bhi = fit.bandwidth_ci_gbps
        covered_bw += blo <= 5.2 <= (bhi if bhi is not None else float("inf"))
    # nominal 95 %: allow for 200 draws and the linearisation of 1/slope
    assert covered_lat / len(seeds) > 0.88 and covered_bw / len(seeds) > 0.88


def test_relative_weighting_beats_ordinary_least_squares_on_the_latency() -> None:
    """Why the fit is weighted: OLS lets the 1 GiB point's noise decide the intercept."""
    x = np.asarray(SIZES, dtype=float)
    t = np.asarray(_times(12.0, 5.2, noise=0.03, seed=1))
    ols_intercept_us = np.polyfit(x, t, 1)[1] * 1e6
    fit = fit_copy_times(SIZES, list(t))
    assert fit.latency_us is not None
    assert abs(fit.latency_us - 12.0) < abs(ols_intercept_us - 12.0)


def test_bad_input_is_refused_with_a_reason() -> None:
    few = fit_copy_times([4096, 8192], [1e-5, 2e-5])
    assert not few.ok and few.reason and "at least 3" in few.reason
    flat = fit_copy_times(SIZES, [1e-5] * len(SIZES))
    assert not flat.ok and flat.reason and "slope" in flat.reason
    falling = fit_copy_times(SIZES, list(np.linspace(1e-3, 1e-5, len(SIZES))))
    assert not falling.ok and falling.reason and "slope" in falling.reason
    dropped = fit_copy_times([*SIZES, 4096], [*_times(12.0, 5.2), float("nan")])
    assert dropped.n == len(SIZES)
