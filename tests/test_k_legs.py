"""k legs without servers: the Williams order's balance and the chain's increment intervals on
synthetic blocks with known ratios (the integration test drives real servers)."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from profiler.analysis.decomposition import chain_row
from profiler.experiment.designs import DESIGNS, williams_sequences

CHAIN = ["base", "tdx", "cc"]


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6, 7])
def test_williams_every_leg_follows_every_other_equally_often(k: int) -> None:
    legs = [f"l{i}" for i in range(k)]
    cycle = len(williams_sequences(k))
    assert cycle == (k if k % 2 == 0 else 2 * k)
    orders = DESIGNS.get("williams").orders(legs, cycle)
    assert all(sorted(o) == legs for o in orders)  # a block runs every leg once
    follows = Counter(pair for o in orders for pair in itertools.pairwise(o))
    pairs = [(a, b) for a in legs for b in legs if a != b]
    assert set(follows) == set(pairs)
    assert len(set(follows.values())) == 1, follows  # carry-over balanced
    for pos in range(k):
        assert Counter(o[pos] for o in orders) == Counter({leg: cycle // k for leg in legs})


def test_williams_two_legs_is_abba() -> None:
    orders = DESIGNS.get("williams").orders(["on", "off"], 4)
    assert orders == DESIGNS.get("abba").orders(["on", "off"], 4) == [["on", "off"], ["off", "on"]] * 2


def _blocks(rng: np.random.Generator, n: int, ratios: tuple[float, ...], noise: float) -> np.ndarray:
    """Per-block log values of each leg: a drifting host (shared by a block's legs, a random walk
    of 10% steps) times the leg's true ratio to the first leg, times its own run noise."""
    drift = np.cumsum(rng.normal(0, 0.10, n))
    legs = [drift + math.log(r) + rng.normal(0, noise, n) for r in (1.0, *ratios)]
    return np.array(legs)


def test_increments_on_known_ratios_cover_and_add_up() -> None:
    """base → tdx → cc with tdx/base = 1.02 and cc/base = 1.05: each step's paired-block
    interval covers its truth about 95% of the time, and the steps add up to the total."""
    rng = np.random.default_rng(7)
    truth = {"tdx-vs-base": 2.0, "cc-vs-tdx": 100 * (1.05 / 1.02 - 1), "cc-vs-base": 5.0}
    hits = Counter[str]()
    trials, n = 1000, 6
    for _ in range(trials):
        logs = _blocks(rng, n, (1.02, 1.05), noise=0.01)
        row = chain_row("mean_tpot_ms", "latency", CHAIN, [logs[1] - logs[0], logs[2] - logs[1]])
        steps = {f"{s.leg}-vs-{s.reference}": s for s in row.steps}
        total = row.total.overhead_pct
        parts = [s.overhead_pct for s in row.steps]
        assert total is not None and None not in parts
        logs_sum = sum(math.log1p(p / 100) for p in parts if p is not None)
        assert math.log1p(total / 100) == pytest.approx(logs_sum)
        assert sum(s.share_pct or 0.0 for s in row.steps) == pytest.approx(100.0)
        for name, item in [*steps.items(), ("cc-vs-base", row.total)]:
            assert item.ci_low is not None and item.ci_high is not None
            hits[name] += item.ci_low <= truth[name] <= item.ci_high
    for name in truth:
        rate = hits[name] / trials
        assert 0.93 <= rate <= 0.97, (name, rate)


def test_increments_ignore_the_drift_that_unpaired_legs_would_see() -> None:
    """The host drifts 10% per block, the legs differ by 2%: the paired step interval is a few
    point or two wide and excludes 0, far narrower than the drift."""
    rng = np.random.default_rng(3)
    logs = _blocks(rng, 8, (1.02, 1.05), noise=0.005)
    row = chain_row("mean_tpot_ms", "latency", CHAIN, [logs[1] - logs[0], logs[2] - logs[1]])
    first = row.steps[0]
    assert first.significant and first.ci_low is not None and first.ci_high is not None
    assert first.ci_high - first.ci_low < 3.0
    assert float(np.std(np.exp(logs[0]))) > 0.05  # the legs' own values wander far more
