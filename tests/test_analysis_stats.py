"""Bootstrap primitives: exact weighted statistics, coverage, and no false significance."""

from __future__ import annotations

import numpy as np
import pytest

from profiler.analysis import stats


def test_weighted_percentiles_equal_numpy_on_the_expanded_sample() -> None:
    rng = np.random.default_rng(3)
    x = rng.lognormal(3, 1, 57)
    x[[4, 9]] = np.nan  # failed requests do not count
    w = stats.weights(rng, x.size, 40)
    qs = (0, 10, 50, 90, 99, 100)
    got = stats.weighted_percentiles(w, x, qs)
    for b in range(w.shape[0]):
        expanded = np.repeat(x, w[b].astype(int))
        expanded = expanded[~np.isnan(expanded)]
        np.testing.assert_allclose(got[:, b], np.percentile(expanded, qs))
        assert stats.weighted_mean(w[b : b + 1], x)[0] == pytest.approx(expanded.mean())


def test_count_percentiles_of_unit_weights_is_numpy() -> None:
    values = np.array([1.0, 2.0, 3.0, 10.0])
    got = stats.count_percentiles(np.ones((1, 4)), values, (50, 90))
    np.testing.assert_allclose(got[:, 0], np.percentile(values, (50, 90)))
    assert np.isnan(stats.count_percentiles(np.zeros((1, 4)), values, (50,))[0, 0])


def test_plain_and_two_stage_weights_draw_the_right_number_of_units() -> None:
    rng = np.random.default_rng(0)
    w = stats.weights(rng, 10, 100)
    assert w.shape == (100, 10) and np.all(w.sum(axis=1) == 10)
    groups = [np.arange(0, 3), np.arange(3, 10)]
    w2 = stats.weights(rng, 10, 500, groups)
    # Each resample draws 2 runs; a run drawn k times contributes k × its size.
    sizes = {int(s) for s in w2.sum(axis=1)}
    assert sizes <= {6, 10, 14}
    assert len(sizes) == 3  # all three run combinations occur
    # A resample that drew only run 0 twice has no unit from run 1.
    only0 = w2.sum(axis=1) == 6
    assert np.all(w2[only0][:, 3:] == 0)


def test_overhead_sign_convention() -> None:
    assert stats.overhead(110.0, 100.0, "latency") == pytest.approx(10.0)
    assert stats.overhead(90.0, 100.0, "throughput") == pytest.approx(10.0)  # fewer tok/s on = a cost
    assert np.isnan(stats.overhead(1.0, 0.0, "latency"))


def _experiment(
    rng: np.random.Generator, paired: bool, n: int = 150, n_boot: int = 400
) -> tuple[float, float]:
    """One synthetic A/B: on = off + 5% (truth = +5% overhead of the mean); returns the CI."""
    base = rng.gamma(4.0, 25.0, n)  # prompt-to-prompt spread, shared when paired
    off = base * rng.normal(1.0, 0.05, n)
    on = (base if paired else rng.gamma(4.0, 25.0, n)) * 1.05 * rng.normal(1.0, 0.05, n)
    w_off = stats.weights(rng, n, n_boot)
    w_on = w_off if paired else stats.weights(rng, n, n_boot)
    boot = stats.overhead(stats.weighted_mean(w_on, on), stats.weighted_mean(w_off, off), "latency")
    ci = stats.percentile_ci(boot)
    assert ci is not None
    return ci


@pytest.mark.parametrize("paired", [True, False])
def test_coverage_of_a_known_difference(paired: bool) -> None:
    """~95% of CIs must contain the true +5% (200 experiments: 3σ band is 90–99.6%)."""
    rng = np.random.default_rng(20261126 + paired)
    cis = [_experiment(rng, paired) for _ in range(200)]
    coverage = np.mean([lo <= 5.0 <= hi for lo, hi in cis])
    assert 0.90 <= coverage <= 0.99, coverage
    # Pairing is what makes the effect visible at this size; independent samples mostly cannot.
    width = np.median([hi - lo for lo, hi in cis])
    assert width < 4 if paired else width > 12


def test_identical_legs_are_never_significant() -> None:
    rng = np.random.default_rng(7)
    x = rng.lognormal(4, 0.5, 300)
    w = stats.weights(rng, x.size, 1000)
    paired = stats.overhead(stats.weighted_mean(w, x), stats.weighted_mean(w, x), "latency")
    assert stats.percentile_ci(paired) == (0.0, 0.0)  # exactly zero: not "significant"
    w2 = stats.weights(rng, x.size, 1000)
    for q in (50, 99):
        a = stats.weighted_percentiles(w, x, (q,))[0]
        b = stats.weighted_percentiles(w2, x, (q,))[0]
        lo, hi = stats.percentile_ci(stats.overhead(a, b, "latency"))  # type: ignore[misc]
        assert lo < 0 < hi


def test_interval_is_refused_when_the_statistic_is_mostly_undefined() -> None:
    samples = np.full(100, np.nan)
    samples[:50] = 1.0
    assert stats.percentile_ci(samples) is None


def test_repetition_interval_covers_a_known_ratio() -> None:
    """Per-run values with run-to-run noise: the Welch log interval covers the truth ~95%."""
    from profiler.analysis.stats import welch_log_ci

    rng = np.random.default_rng(11)
    hits = []
    for _ in range(400):
        on = 110.0 * rng.lognormal(0, 0.05, 3)  # truth: +10% latency
        off = 100.0 * rng.lognormal(0, 0.05, 3)
        ci = welch_log_ci(
            on, off, float(np.exp(np.log(on).mean())), float(np.exp(np.log(off).mean())), "latency", 0.95
        )
        assert ci is not None
        hits.append(ci[0] <= 10.0 <= ci[1])
    assert 0.92 <= np.mean(hits) <= 0.98, np.mean(hits)
    # Throughput sign: on slower by 10% → overhead +10%, CI around it.
    ci = welch_log_ci(np.array([90.0, 91, 89]), np.array([100.0, 101, 99]), 90.0, 100.0, "throughput", 0.95)
    assert ci is not None and ci[0] < 10.0 < ci[1]
    # One run in each leg: no run-level interval.
    assert welch_log_ci(np.array([1.0]), np.array([1.0]), 1.0, 1.0, "latency", 0.95) is None
