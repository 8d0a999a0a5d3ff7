"""Arrival schedules: pure functions, checked against hand-computed offsets and vLLM semantics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from catalog.registry import UnknownName
from loadgen.schedule import SCHEDULES, offsets_ns, ramp_up, schedule_name

S = 1_000_000_000


def test_registry_names() -> None:
    assert SCHEDULES.names() == ["constant", "gamma", "inf", "poisson"]


@pytest.mark.parametrize(
    ("rate", "burstiness", "name"),
    [(math.inf, 1.0, "inf"), (4.0, math.inf, "constant"), (4.0, 1.0, "poisson"), (4.0, 0.5, "gamma")],
)
def test_schedule_name_follows_vllm(rate: float, burstiness: float, name: str) -> None:
    assert schedule_name(rate, burstiness) == name


def test_inf_sends_everything_at_zero() -> None:
    assert offsets_ns(5) == [0, 0, 0, 0, 0]


def test_constant_rate_is_evenly_spaced_and_first_gap_is_one_interval() -> None:
    # vLLM waits one interval before the first request too: (i + 1) / rate
    assert offsets_ns(4, 2.0, burstiness=math.inf) == [S // 2, S, 3 * S // 2, 2 * S]


def test_poisson_is_seeded_reproducible_and_ends_at_n_over_rate() -> None:
    a = offsets_ns(200, 8.0, seed=3)
    b = offsets_ns(200, 8.0, seed=3)
    c = offsets_ns(200, 8.0, seed=4)
    assert a == b and a != c
    assert a == sorted(a)
    assert a[-1] == 25 * S  # rescaled so the last lands at exactly n / rate (vLLM)


def test_gamma_burstiness_sets_dispersion() -> None:
    # gamma(shape k) gaps have coefficient of variation 1/sqrt(k): burstier → more dispersed
    def cv(b: float) -> float:
        gaps = np.diff(np.asarray(offsets_ns(20_000, 10.0, burstiness=b, seed=1), dtype=float))
        return float(gaps.std() / gaps.mean())

    assert cv(0.25) == pytest.approx(2.0, rel=0.1)
    assert cv(1.0) == pytest.approx(1.0, rel=0.1)
    assert cv(4.0) == pytest.approx(0.5, rel=0.1)


def test_ramp_up_time_change_by_hand() -> None:
    t = np.array([0.0, 0.5, 2.0, 3.0])
    # T = 4: s < 2 → sqrt(8 s); s ≥ 2 → s + 2
    out = ramp_up(t, 4.0, rate=1.0, concurrency=1)
    assert out.tolist() == pytest.approx([0.0, 2.0, 4.0, 5.0])


def test_ramp_up_keeps_order_and_count_and_only_delays() -> None:
    base = np.asarray(offsets_ns(500, 20.0, seed=9), dtype=float) / S
    ramped = np.asarray(offsets_ns(500, 20.0, seed=9, ramp_up_s=5.0), dtype=float) / S
    assert np.all(np.diff(ramped) >= 0)
    assert np.all(ramped >= base - 1e-9)
    # after the ramp the process runs at full rate, shifted by T/2
    assert ramped[-1] == pytest.approx(base[-1] + 2.5)


def test_ramp_up_at_inf_rate_staggers_the_first_connections() -> None:
    offs = offsets_ns(6, math.inf, ramp_up_s=1.0, concurrency=4)
    assert offs == [0, S // 4, S // 2, 3 * S // 4, 3 * S // 4, 3 * S // 4]


def test_bad_parameters_are_errors() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        offsets_ns(3, 0.0)
    with pytest.raises(ValueError, match="burstiness"):
        offsets_ns(3, 1.0, burstiness=0.0)
    with pytest.raises(UnknownName, match="known: constant, gamma, inf, poisson"):
        offsets_ns(3, 1.0, name="uniform")
