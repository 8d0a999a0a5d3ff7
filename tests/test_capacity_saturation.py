"""The saturation detector on synthetic throughput/latency curves."""

from __future__ import annotations

from profiler.capacity.points import LoadPoint
from profiler.capacity.saturation import SaturationPolicy, detect


def curve(loads, qps, ttft=None, lag=None, err=None, closed=True):
    n = len(loads)
    ttft = ttft or [100.0] * n
    return [
        LoadPoint(
            load=loads[k], qps=qps[k], output_tps=qps[k] * 10, closed_loop=closed,
            error_rate=(err or [0.0] * n)[k], lag_p99_ms=(lag or [0.0] * n)[k],
            summary={"p99_ttft_ms": ttft[k], "p99_e2el_ms": ttft[k] * 5},
        )
        for k in range(n)
    ]


def test_linear_growth_is_not_saturated() -> None:
    assert not detect(curve([1, 2, 4, 8], [1, 2, 4, 7.5])).saturated


def test_plateau_is_saturation_once_confirmed() -> None:
    # 4 → 4.2 for a doubling of load: efficiency 0.05 < 0.1; 4.1 at 16 confirms it
    s = detect(curve([1, 2, 4, 8, 16], [1, 2, 4, 4.2, 4.1]))
    assert s.saturated and s.index == 4
    assert "2 points in a row" in (s.reason or "") and "efficiency 0.05" in (s.reason or "")


def test_patience_one_stops_at_the_first_flat_point() -> None:
    s = detect(curve([1, 2, 4, 8, 16], [1, 2, 4, 4.2, 4.1]), SaturationPolicy(patience=1))
    assert s.index == 3 and (s.reason or "").startswith("throughput +5.0% for +100% load over 4")


def test_one_noisy_dip_does_not_stop_a_leg() -> None:
    # a dip at 4 (noise), growth again at 8: the streak resets
    assert not detect(curve([1, 2, 4, 8, 16], [1, 2, 1.5, 4, 8])).saturated


def test_threshold_is_a_policy() -> None:
    s = detect(curve([1, 2, 4, 8], [1, 2, 4, 4.2]), SaturationPolicy(min_efficiency=0.01, patience=1))
    assert not s.saturated


def test_gain_is_measured_against_the_best_earlier_point() -> None:
    # a drop at load 8 counts against the best point (load 4, qps 4); 4.1 at 16 is still flat
    s = detect(curve([1, 2, 4, 8, 16], [1, 2, 4, 3.0, 4.1]))
    assert s.index == 4 and "over 4" in (s.reason or "")


def test_small_load_steps_are_judged_relative_to_their_size() -> None:
    # 10 → 11 (+10 % load) for +8 % throughput is efficient, not a plateau
    assert not detect(curve([10, 11], [5.0, 5.4]), SaturationPolicy(patience=1)).saturated


def test_latency_explosion() -> None:
    s = detect(curve([1, 2, 4], [1, 2, 3.9], ttft=[100, 150, 2500]))
    assert s.saturated and s.index == 2 and "exploded" in (s.reason or "")


def test_client_lag_counts_on_open_loop_points_only() -> None:
    open_loop = detect(curve([1, 2, 4], [1, 2, 4], lag=[1, 2, 900], closed=False))
    assert open_loop.index == 2 and "client lag" in (open_loop.reason or "")
    # closed loop: lag is the wait for a concurrency slot, by design
    assert not detect(curve([1, 2, 4], [1, 2, 4], lag=[1, 2, 900], closed=True)).saturated


def test_failures_saturate() -> None:
    s = detect(curve([1, 2, 4], [1, 2, 4], err=[0, 0, 0.2]))
    assert s.index == 2 and "failed" in (s.reason or "")
