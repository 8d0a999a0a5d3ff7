"""The M/G/1 load-curve model: exact recovery on hand-made points, and every case the data
cannot support said plainly."""

from __future__ import annotations

import math

import pytest
from scipy.optimize import brentq

from profiler.analysis import queueing
from profiler.analysis.queueing import LegObs, PointObs, fit, predict_ms, predicted_overhead


def law_ms(rate: float, mu: float, t0_ms: float, k: float) -> float:
    """The law the model assumes: T0 + K·λ/(μ(μ − λ)), in ms."""
    return t0_ms + 1e3 * k * rate / (mu * (mu - rate))


def points(
    rates: list[float],
    mu: dict[str, float],
    t0: dict[str, float],
    k: float,
    *,
    with_inf: bool = True,
) -> list[PointObs]:
    out = []
    for r in rates:
        legs = {leg: LegObs(r, r, law_ms(r, mu[leg], t0[leg], k), saturated=False) for leg in ("on", "off")}
        out.append(PointObs(f"rate={r:g}", r, legs["on"], legs["off"]))
    if with_inf:
        legs = {leg: LegObs(math.inf, mu[leg], 1e6, saturated=True) for leg in ("on", "off")}
        out.append(PointObs("rate=inf", math.inf, legs["on"], legs["off"]))
    return out


MU = {"on": 9.0, "off": 10.0}
T0 = {"on": 50.0, "off": 48.0}


def true_crossing(limit: float, k: float) -> float:
    def over(x: float) -> float:
        return 100 * (law_ms(x, 9, 50, k) / law_ms(x, 10, 48, k) - 1) - limit

    return float(brentq(over, 1e-6, 9 - 1e-9))


def test_points_on_the_law_give_back_its_parameters_knees_and_crossing() -> None:
    model = fit(points([1, 3, 5, 7], MU, T0, k=0.6), limit_pct=10)
    assert model.supported and model.k_fitted
    assert model.k == pytest.approx(0.6, rel=1e-9)
    for leg in ("on", "off"):
        q = model.legs[leg]
        assert q.capacity_qps == MU[leg] and q.t0_ms == pytest.approx(T0[leg], rel=1e-9)
        # the knee: queueing delay = T0, i.e. 0.6·λ/(μ(μ − λ)) = T0
        assert law_ms(q.knee_rate or 0, MU[leg], T0[leg], 0.6) == pytest.approx(2 * T0[leg], rel=1e-9)
    assert model.crossing is not None and model.crossing.rate == pytest.approx(
        true_crossing(10, 0.6), rel=1e-6
    )
    assert model.crossing.utilisation_off == pytest.approx((model.crossing.rate or 0) / 10)
    assert model.capacity_overhead_pct == pytest.approx(10.0)
    stable = [p for p in model.points if p.regime == "stable"]
    assert len(stable) == 4 and not any(p.calibration for p in stable)
    for p in stable:
        assert p.predicted_on_ms == pytest.approx(p.measured_on_ms, rel=1e-9)
        rho = (p.request_rate or 0) / 10
        assert p.amplification == pytest.approx((2 - rho) / (1 - rho))
    # rate=inf: above both capacities, the overhead of queue growth is μ_off/μ_on − 1
    inf = model.points[-1]
    assert inf.regime == "overloaded" and inf.predicted_overhead_pct == pytest.approx(100 * (10 / 9 - 1))


def test_one_point_below_capacity_assumes_m_m_1_and_says_it_only_calibrates() -> None:
    model = fit(points([1], MU, T0, k=1.0))
    assert model.supported and not model.k_fitted and model.k == 1.0
    assert any("K = 1 is assumed" in a for a in model.assumptions)
    rate1 = model.points[0]
    assert rate1.calibration and "by construction" in rate1.note
    assert rate1.predicted_overhead_pct == pytest.approx(
        100 * (law_ms(1, 9, 50, 1) / law_ms(1, 10, 48, 1) - 1)
    )
    assert model.crossing is not None and model.crossing.rate == pytest.approx(
        true_crossing(10, 1.0), rel=1e-6
    )


def test_the_amplification_near_capacity() -> None:
    # the queueing delay's relative change per relative capacity change is −(2 − ρ)/(1 − ρ)
    model = fit(points([1, 3, 5, 7], {"on": 10.0, "off": 10.0}, {"on": 1e-9, "off": 1e-9}, k=1.0))
    assert model.supported
    base = predict_ms(model, "off", 9.0)
    assert base is not None
    model.legs["on"].capacity_qps = 10.0 * (1 - 1e-5)
    slower = predict_ms(model, "on", 9.0)
    assert slower is not None
    assert (slower / base - 1) / 1e-5 == pytest.approx((2 - 0.9) / (1 - 0.9), rel=1e-3)


@pytest.mark.parametrize(
    ("pts", "reason"),
    [
        (points([1], MU, T0, 1.0, with_inf=False), "fewer than 2 load points"),
        (points([1, 3], MU, T0, 1.0, with_inf=False), "no saturated point on leg on"),
        (
            [
                PointObs(n, r, LegObs(r, 2.0, 1e5, True), LegObs(r, 2.0, 1e5, True))
                for n, r in (("rate=16", 16.0), ("rate=inf", math.inf))
            ],
            "no point below capacity on leg on",
        ),
        (points([1, 3, 5], MU, T0, -0.5), "TTFT does not grow with load below capacity"),
    ],
)
def test_what_the_data_cannot_support_is_said_plainly(pts: list[PointObs], reason: str) -> None:
    model = fit(pts)
    assert not model.supported and model.reason is not None and reason in model.reason
    assert model.points == [] and model.crossing is None


def test_a_ttft_below_the_queueing_delay_alone_is_refused() -> None:
    # one point per leg and K assumed 1: a TTFT under λ/(μ(μ − λ)) means T0 < 0
    pts = points([8], MU, {"on": -200.0, "off": -200.0}, 1.0)
    model = fit(pts)
    assert not model.supported and "T0 ≤ 0" in (model.reason or "")


def test_crossings_that_do_not_exist_or_are_not_queueing() -> None:
    equal = fit(points([1, 3, 5], {"on": 10.0, "off": 9.0}, {"on": 48.0, "off": 50.0}, 0.8))
    assert equal.crossing is not None and equal.crossing.rate is None
    assert "at least the baseline's capacity" in equal.crossing.note
    fixed = fit(points([1, 3, 5], MU, {"on": 80.0, "off": 50.0}, 0.8), limit_pct=10)
    assert fixed.crossing is not None and fixed.crossing.rate == 0.0 and "not queueing" in fixed.crossing.note
    assert predicted_overhead(fixed, 0.0) == pytest.approx(60.0)


def test_between_the_two_capacities_the_overhead_is_unbounded() -> None:
    pts = points([1, 3, 5], MU, T0, 0.8)
    legs = {"on": LegObs(9.5, 8.9, 1e5, saturated=True), "off": LegObs(9.5, 9.5, 900.0, saturated=False)}
    pts.insert(3, PointObs("rate=9.5", 9.5, legs["on"], legs["off"]))
    model = fit(pts)
    between = next(p for p in model.points if p.name == "rate=9.5")
    assert between.regime == "unbounded" and between.predicted_overhead_pct is None
    assert "leg on" in between.note
    assert predict_ms(model, "on", 9.5) is None and predict_ms(model, "off", 9.5) is not None


def test_keeping_up() -> None:
    assert queueing.keeps_up(1.0, 0.89)  # the paper's 70B run at 1 req/s: arrival noise and the tail
    assert not queueing.keeps_up(4.0, 2.39)  # the same server at 4 req/s could not
    assert not queueing.keeps_up(math.inf, 2.57)
    assert queueing.keeps_up(None, 3.0)
