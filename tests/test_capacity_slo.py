"""SLO parsing and the SLO-bound maximum load on synthetic curves (hand-computed expectations)."""

from __future__ import annotations

import math

import pytest

from profiler.capacity.points import LoadPoint, SloStat
from profiler.capacity.slo import capacity_of, parse_slos
from profiler.errors import UserError


def pts(loads, qps, ttft, tpot=None, err=None, closed=True):
    out = []
    for k, load in enumerate(loads):
        summary = {"p99_ttft_ms": ttft[k], "p99_tpot_ms": (tpot or [1.0] * len(loads))[k]}
        out.append(
            LoadPoint(
                load=load, qps=qps[k], output_tps=qps[k] * 100, error_rate=(err or [0.0] * len(loads))[k],
                closed_loop=closed, summary=summary,
            )
        )
    return out


def test_parse_slos_both_orders_and_errors() -> None:
    s = parse_slos("ttft_p99_ms=500, p99_tpot_ms=50,e2el_mean=2000")
    assert s.to_dict() == {"ttft_p99_ms": 500.0, "tpot_p99_ms": 50.0, "e2el_mean_ms": 2000.0}
    assert not parse_slos("")
    for bad in ("ttft_p99_ms", "foo_p99_ms=1", "ttft_q99_ms=1", "ttft_p99_ms=abc", "ttft_p99_ms=-1"):
        with pytest.raises(UserError):
            parse_slos(bad)


def test_metric_names() -> None:
    m = SloStat.parse("ttft_p99_ms")
    assert (m.name, m.summary_key) == ("ttft_p99_ms", "p99_ttft_ms")
    with pytest.raises(ValueError):
        SloStat("ttft", "p101")


def test_interpolates_between_last_pass_and_first_fail() -> None:
    # ttft 200 at load 4 passes, 600 at load 8 fails; bound 400 is halfway → f = 0.5
    p = pts([1, 2, 4, 8], [1, 2, 3.8, 4.0], [100, 120, 200, 600])
    cap = capacity_of(p, parse_slos("ttft_p99_ms=400"), saturated=False)
    assert cap.kind == "interpolated"
    assert cap.binding == "ttft_p99_ms"
    assert (cap.lo, cap.hi) == (2, 3)
    assert cap.fraction == pytest.approx(0.5)
    assert cap.qps == pytest.approx(3.9)
    assert cap.load == pytest.approx(6.0)
    assert cap.output_tps == pytest.approx(390.0)
    assert cap.tokens_per_request == pytest.approx(100.0)


def test_the_earliest_crossing_binds() -> None:
    # ttft crosses at f = 0.5, tpot (20 → 40, bound 25) at f = 0.25
    p = pts([1, 2, 4, 8], [1, 2, 3.8, 4.0], [100, 120, 200, 600], tpot=[10, 11, 20, 40])
    cap = capacity_of(p, parse_slos("ttft_p99_ms=400,tpot_p99_ms=25"), saturated=False)
    assert cap.binding == "tpot_p99_ms"
    assert cap.fraction == pytest.approx(0.25)
    assert cap.qps == pytest.approx(3.85)
    assert cap.load == pytest.approx(5.0)


def test_peak_before_the_crossing_is_the_answer() -> None:
    # throughput falls past load 4 (4.0 → 3.5); the crossing at f = 0.5 gives 3.75 < 4.0
    p = pts([1, 2, 4, 8], [1, 2, 4.0, 3.5], [100, 120, 200, 600])
    cap = capacity_of(p, parse_slos("ttft_p99_ms=400"), saturated=True)
    assert cap.kind == "measured"
    assert cap.qps == pytest.approx(4.0) and cap.load == 4 and (cap.lo, cap.hi) == (2, 2)


def test_all_pass_saturated_is_the_peak() -> None:
    p = pts([1, 2, 4, 8], [1, 2, 4.0, 4.1], [100, 110, 120, 130])
    cap = capacity_of(p, parse_slos("ttft_p99_ms=400"), saturated=True)
    assert (cap.kind, cap.qps, cap.load) == ("measured", 4.1, 8)


def test_all_pass_unsaturated_is_a_lower_bound_with_an_extrapolated_guess() -> None:
    # last segment: ttft 120 → 160 for qps 2 → 4; 400 is reached at f = 7 → qps 2 + 7·2 = 16
    p = pts([1, 2, 4], [1, 2, 4], [100, 120, 160])
    cap = capacity_of(p, parse_slos("ttft_p99_ms=400"), saturated=False)
    assert cap.kind == "lower_bound"
    assert cap.qps == 4
    assert cap.extrapolated_qps == pytest.approx(16.0)
    assert "at least" in cap.note


def test_all_pass_with_a_drop_at_the_end_says_saturation_is_unconfirmed() -> None:
    p = pts([1, 2, 4, 8], [1, 2, 4, 3.5], [100, 110, 120, 130])
    cap = capacity_of(p, parse_slos("ttft_p99_ms=400"), saturated=False)
    assert (cap.kind, cap.qps, cap.extrapolated_qps) == ("lower_bound", 4, None)
    assert "peaked at load 4 but saturation was not confirmed" in cap.note


def test_first_point_failing_at_concurrency_one_is_infeasible() -> None:
    p = pts([1, 2, 4], [1, 2, 4], [500, 600, 700])
    cap = capacity_of(p, parse_slos("ttft_p99_ms=400"), saturated=False)
    assert cap.kind == "none" and cap.qps is None
    assert "one request at a time" in cap.note


def test_first_rate_failing_is_extrapolated_below_the_range() -> None:
    # open loop: rate 2 → ttft 500, rate 4 → 700; 400 at f = -0.5 → rate 1, qps 1
    p = pts([2, 4], [2, 4], [500, 700], closed=False)
    cap = capacity_of(p, parse_slos("ttft_p99_ms=400"), saturated=False)
    assert cap.kind == "extrapolated"
    assert cap.qps == pytest.approx(1.0) and cap.load == pytest.approx(1.0)
    assert "extrapolated" in cap.note


def test_error_rate_is_a_bound_too() -> None:
    # errors 0 → 10 % between loads 2 and 4; 1 % is reached at f = 0.1
    p = pts([1, 2, 4], [1, 2, 3], [100, 100, 100], err=[0, 0, 0.1])
    cap = capacity_of(p, parse_slos("ttft_p99_ms=400"), saturated=False)
    assert cap.binding == "error_rate"
    assert cap.qps == pytest.approx(2.1)


def test_no_successful_request_at_the_failing_point_stops_at_the_last_good_one() -> None:
    p = pts([1, 2, 4], [1, 2, 0.0], [100, 120, math.nan], err=[0, 0, 0])
    cap = capacity_of(p, parse_slos("ttft_p99_ms=400"), saturated=False)
    assert cap.kind == "interpolated" and cap.fraction == 0.0 and cap.qps == 2


def test_points_passing_again_after_a_violation_are_ignored_and_said() -> None:
    p = pts([1, 2, 4, 8], [1, 2, 3, 4], [100, 500, 150, 160])
    cap = capacity_of(p, parse_slos("ttft_p99_ms=400"), saturated=False)
    assert cap.hi == 1 and "ignored" in cap.note
    assert cap.qps == pytest.approx(1 + (400 - 100) / (500 - 100))


def test_without_slos_the_peak_is_reported() -> None:
    p = pts([1, 2, 4], [1, 3, 2], [100, 100, 100])
    cap = capacity_of(p, parse_slos(None), saturated=True)
    assert (cap.kind, cap.qps, cap.binding) == ("measured", 3, "throughput")
