"""Plan arithmetic on hand-made capacities, cost parsing, and the bootstrap that carries CIs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from loadgen.metrics import REQUEST_COLUMNS
from profiler.analysis.stats import finite_count, percentile_ci
from profiler.capacity.bootstrap import replicate_capacities
from profiler.capacity.plan import make_plan, replicas_needed
from profiler.capacity.points import LoadPoint, Samples, combine
from profiler.capacity.slo import Capacity, capacity_of, parse_slos
from profiler.commands.plan import parse_costs
from profiler.errors import UserError

SLOS = parse_slos("ttft_p99_ms=400")
ON = Capacity(qps=7.5, load=6, output_tps=750.0, kind="interpolated", binding="ttft_p99_ms")
OFF = Capacity(qps=10.0, load=8, output_tps=1000.0, kind="interpolated", binding="ttft_p99_ms")


def test_replicas_round_up_but_not_on_float_noise() -> None:
    assert replicas_needed(40, 7.5) == 6
    assert replicas_needed(40, 10) == 4
    assert replicas_needed(0.3, 0.1) == 3  # 0.3 / 0.1 = 2.9999999999999996
    assert replicas_needed(0.7, 0.1) == 7  # 6.999999999999999
    assert replicas_needed(1.0001, 1) == 2
    assert replicas_needed(0.01, 5) == 1


def test_plan_arithmetic_by_hand() -> None:
    plan = make_plan({"on": ON, "off": OFF}, SLOS, target_qps=40, gpus_per_replica=2,
                     gpu_hour_cost={"on": 4.0, "off": 3.0})
    on, off = plan["legs"]["on"], plan["legs"]["off"]
    # on: ceil(40 / 7.5) = 6 replicas × 2 GPUs × $4 = $48/h; 40 req/s × 100 tokens = 4000 tok/s
    assert (on["replicas"], on["gpus"], on["cost_per_hour"]) == (6, 12, 48.0)
    assert on["served_output_tps"] == pytest.approx(4000.0)
    assert on["cost_per_million_output_tokens"] == pytest.approx(48 / (4000 * 3600) * 1e6)
    assert on["utilisation"] == pytest.approx(40 / 45)
    # off: ceil(40 / 10) = 4 × 2 × $3 = $24/h
    assert (off["replicas"], off["gpus"], off["cost_per_hour"]) == (4, 8, 24.0)
    assert off["cost_per_million_output_tokens"] == pytest.approx(24 / (4000 * 3600) * 1e6)
    assert plan["capacity_overhead"]["value_pct"] == pytest.approx(25.0)
    assert plan["capacity_overhead"]["ci_low_pct"] is None  # no replicates given
    # (750 / ($4 × 2)) / (1000 / ($3 × 2)) = 93.75 / 166.67
    assert plan["cost_performance"]["ratio"] == pytest.approx(0.5625)
    s = plan["sentence"]
    assert "To serve 40 req/s under P99 TTFT ≤ 400 ms" in s
    assert "6 replicas (12 GPUs, $48.00/h, $3.33 per million output tokens) with the TEE" in s
    assert "4 replicas (8 GPUs, $24.00/h, $1.67 per million output tokens) without it" in s
    assert "by 25.0%" in s


def test_without_prices_cost_performance_is_throughput_per_gpu() -> None:
    plan = make_plan({"on": ON, "off": OFF}, SLOS, target_qps=40)
    assert plan["legs"]["on"]["cost_per_hour"] is None
    assert plan["cost_performance"]["unit"] == "output tokens/s per GPU"
    assert plan["cost_performance"]["ratio"] == pytest.approx(0.75)
    assert "$" not in plan["sentence"]


def test_a_leg_without_capacity_gives_no_plan_and_says_why() -> None:
    none = Capacity(None, kind="none", note="even one request at a time violates the SLOs")
    plan = make_plan({"on": none, "off": OFF}, SLOS, target_qps=40)
    assert plan["legs"]["on"]["replicas"] is None
    assert plan["capacity_overhead"] is None
    assert plan["sentence"].startswith("No plan for 40 req/s")
    assert "one request at a time" in plan["sentence"]


def test_non_interpolated_capacities_are_qualified() -> None:
    lower = Capacity(qps=12.0, load=8, output_tps=1200.0, kind="lower_bound", note="at least")
    plan = make_plan({"on": ON, "off": lower}, SLOS, target_qps=40, aa=True)
    assert "Leg off: its capacity is only a lower bound" in plan["sentence"]
    assert "compares lower bounds" in plan["sentence"]
    # an A/A pair never reports a TEE effect, only the noise floor
    assert "A/A calibration" in plan["sentence"] and "The TEE" not in plan["sentence"]
    assert "capacities is 37.5%" in plan["sentence"]  # (12 − 7.5) / 12
    assert plan["warnings"] == ["off: at least"]


def test_a_single_leg_still_gets_a_plan() -> None:
    plan = make_plan({"off": OFF}, SLOS, target_qps=40)
    want = "To serve 40 req/s under P99 TTFT ≤ 400 ms, you need 4 replicas (4 GPUs) on leg off."
    assert plan["sentence"] == want
    assert plan["capacity_overhead"] is None


def test_prices_for_every_leg_or_none() -> None:
    with pytest.raises(ValueError):
        make_plan({"on": ON, "off": OFF}, SLOS, target_qps=1, gpu_hour_cost={"on": 1.0})


def test_parse_costs() -> None:
    assert parse_costs("on=4.2,off=3.5") == {"on": 4.2, "off": 3.5}
    assert parse_costs("2.5") == {"on": 2.5, "off": 2.5}
    assert parse_costs(None) is None
    for bad in ("on=4", "on=x,off=1", "tee=1,off=2", "on=-1,off=1", "on=1,off=1,on"):
        with pytest.raises(UserError):
            parse_costs(bad)


def _point(load: float, qps: float, ttft: np.ndarray, closed: bool = True) -> LoadPoint:
    n = len(ttft)
    frame = pd.DataFrame({c: [None] * n for c in REQUEST_COLUMNS})
    frame["ttft_ms"] = ttft
    frame["tpot_ms"] = 5.0
    frame["e2el_ms"] = ttft + 50.0
    frame["output_tokens"] = 10
    frame["ok"] = True
    samples = Samples.from_frame(frame)
    return LoadPoint(load=load, qps=qps, output_tps=qps * 10, closed_loop=closed, samples=samples)


def test_bootstrap_is_reproducible_and_brackets_the_estimate() -> None:
    rng = np.random.default_rng(7)
    legs = {
        label: [_point(c, q, rng.normal(mu, mu / 10, 200)) for c, q, mu in rows]
        for label, rows in {
            "on": [(1, 1.0, 100), (2, 2.0, 150), (4, 3.0, 300), (8, 3.2, 900)],
            "off": [(1, 1.2, 90), (2, 2.4, 120), (4, 3.6, 250), (8, 3.8, 800)],
        }.items()
    }
    slos = parse_slos("ttft_p99_ms=500")
    sat = {"on": True, "off": True}
    a = replicate_capacities(legs, slos, sat, n_boot=300, seed=1)
    b = replicate_capacities(legs, slos, sat, n_boot=300, seed=1)
    assert np.array_equal(a.qps["on"], b.qps["on"], equal_nan=True)
    for label, points in legs.items():
        est = capacity_of(points, slos, saturated=True).qps
        ci = percentile_ci(a.qps[label])
        assert finite_count(a.qps[label]) == 300 and ci is not None and est is not None
        lo, hi = ci
        assert lo <= est <= hi and hi > lo  # the p99 of 200 samples moves: the CI has width


def test_points_without_requests_do_not_pretend_to_vary() -> None:
    p = [LoadPoint(load=c, qps=q, output_tps=q, summary={"p99_ttft_ms": t})
         for c, q, t in [(1, 1.0, 100.0), (2, 2.0, 600.0)]]
    reps = replicate_capacities({"on": p}, parse_slos("ttft_p99_ms=350"), {"on": False}, n_boot=50)
    assert reps.fixed_points == 2
    assert np.allclose(reps.qps["on"], 1.5)


def test_capacity_ci_follows_the_one_percentile_rule() -> None:
    # Capacity CIs come from the statistics home's interval: replicates where no load met the
    # SLOs (NaN) are left out while they are ≤ 10% of all; beyond that there is no interval.
    few_missing = np.append(np.linspace(1.0, 3.0, 95), [math.nan] * 5)
    ci = percentile_ci(few_missing)
    assert finite_count(few_missing) == 95 and ci is not None and 1.0 <= ci[0] < ci[1] <= 3.0
    assert percentile_ci(np.append(np.linspace(1.0, 3.0, 80), [math.nan] * 20)) is None
    assert percentile_ci(np.array([math.nan])) is None


def test_repeated_runs_carry_their_drift_into_the_ci() -> None:
    rng = np.random.default_rng(3)

    def leg(qps_runs: list[float]) -> list[LoadPoint]:
        parts = tuple(_point(4, q, rng.normal(100, 5, 100)) for q in qps_runs)
        return [combine(parts)]

    slos = parse_slos("ttft_p99_ms=1000")  # met everywhere: capacity = the (saturated) peak
    steady = replicate_capacities({"on": leg([12.0, 12.0, 12.0])}, slos, {"on": True}, n_boot=400)
    drifting = replicate_capacities({"on": leg([10.0, 12.0, 14.0])}, slos, {"on": True}, n_boot=400)
    ci_s, ci_d = percentile_ci(steady.qps["on"]), percentile_ci(drifting.qps["on"])
    assert ci_s is not None and ci_d is not None
    (lo_s, hi_s), (lo_d, hi_d) = ci_s, ci_d
    assert lo_s == hi_s == 12.0  # identical runs: no run-to-run spread to carry
    assert lo_d is not None and hi_d is not None and lo_d < 12.0 < hi_d and hi_d - lo_d > 1.0
