"""--workers N: the shards of a seeded schedule are that schedule, split, and stay Poisson."""

from __future__ import annotations

import math

import numpy as np
import pytest

from loadgen.runner import RunSpec, _shares
from loadgen.schedule import offsets_ns, shard
from loadgen.workload import Prompt

RATE = 1000.0


def _ks_exponential(gaps: np.ndarray, mean: float) -> float:
    """Kolmogorov-Smirnov distance between the gaps' empirical CDF and Exp(mean)."""
    x = np.sort(gaps)
    cdf = 1.0 - np.exp(-x / mean)
    n = len(x)
    return float(max((np.arange(1, n + 1) / n - cdf).max(), (cdf - np.arange(n) / n).max()))


@pytest.mark.parametrize("workers", [1, 2, 3, 4])
@pytest.mark.parametrize("rate", [RATE, math.inf])
def test_shards_partition_the_requests_in_schedule_order(workers: int, rate: float) -> None:
    parts = shard(5000, workers, rate=rate, seed=7)
    assert len(parts) == workers
    assert sorted(i for p in parts for i in p) == list(range(5000))  # each request exactly once
    assert all(p == sorted(p) for p in parts)
    assert shard(5000, workers, rate=rate, seed=7) == parts  # seeded: the same split again


def test_union_of_the_shares_is_the_single_process_schedule() -> None:
    prompts = [Prompt(f"p{i}", 4, 4) for i in range(3000)]
    single = offsets_ns(3000, RATE, seed=11)
    for workers in (2, 4):
        spec = RunSpec("http://127.0.0.1:1", "m", prompts, concurrency=64, request_rate=RATE, seed=11,
                       workers=workers)
        shares = _shares(spec, single)
        assert len(shares) == workers and sum(s.concurrency for s in shares) == 64
        union = sorted((i, s.offsets_ns[i]) for s in shares for i in s.indices)
        assert union == list(enumerate(single))


@pytest.mark.parametrize("workers", [2, 4])
def test_each_shard_of_a_poisson_process_is_poisson_at_rate_over_n(workers: int) -> None:
    n = 40_000
    times = np.asarray(offsets_ns(n, RATE, seed=3), dtype=float) / 1e9
    for part in shard(n, workers, rate=RATE, seed=3):
        t = times[part]
        gaps = np.diff(t)
        mean = workers / RATE
        assert len(part) == pytest.approx(n / workers, rel=0.03)
        assert gaps.mean() == pytest.approx(mean, rel=0.03)
        # exponential gaps: coefficient of variation 1 (round-robin dealing gives 1/sqrt(N))
        assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.03)
        # and the whole distribution: KS distance under its 0.1% critical value
        assert _ks_exponential(gaps, gaps.mean()) < 1.95 / math.sqrt(len(gaps))
        # counts in 50 ms windows: Poisson, variance = mean
        counts = np.bincount((t / 0.05).astype(int))[:-1]
        assert counts.var() / counts.mean() == pytest.approx(1.0, abs=0.1)


def test_round_robin_would_fail_the_poisson_check() -> None:
    """The check above can fail: dealing round-robin makes each shard Erlang-2, CV 1/sqrt(2)."""
    times = np.asarray(offsets_ns(40_000, RATE, seed=3), dtype=float) / 1e9
    gaps = np.diff(times[0::2])
    assert gaps.std() / gaps.mean() == pytest.approx(1 / math.sqrt(2), abs=0.03)
    assert _ks_exponential(gaps, gaps.mean()) > 1.95 / math.sqrt(len(gaps))


def test_rate_inf_deals_round_robin() -> None:
    assert shard(7, 3) == [[0, 3, 6], [1, 4], [2, 5]]
    with pytest.raises(ValueError, match="workers"):
        shard(7, 0)
