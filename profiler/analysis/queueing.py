"""Why the TEE's TTFT cost grows with load: an M/G/1 queueing model fitted per leg.

Each leg is modelled as one server of capacity μ (requests/s), measured as the throughput of the
leg's saturated point(s): the rate=inf run, or a load the leg could not keep up with. Below
capacity the mean wait before service is Pollaczek–Khinchine's

    TTFT(λ) = T0 + K · ρ/(1 − ρ) · 1/μ,   ρ = λ/μ,   K = (1 + c²)/2

with T0 the zero-load TTFT of the leg and c² the squared coefficient of variation of service
times (K = 1 for exponential service, M/M/1; 0.5 for deterministic). K is shared by the legs
(same workload, same engine) and fitted when the points allow; otherwise K = 1 is assumed and
the model says so.

The amplification: the queueing term is λ / (μ(μ − λ)), so d ln W / d ln μ = −(2 − ρ)/(1 − ρ).
A capacity loss of δ costs about δ·(2 − ρ)/(1 − ρ) of queueing delay: ×2.6 at ρ = 0.4, ×11 at
ρ = 0.9. A TEE that costs 2% of throughput costs tens of percent of TTFT near saturation.

Above capacity (λ ≥ μ) there is no steady state: in a finite run the queue grows for as long as
arrivals last, so TTFT depends on the run's length. Only the ratio of the two legs' queue growth,
(1/μ_on − 1/λ) / (1/μ_off − 1/λ), is predicted there (it holds when queueing dominates T0). Its
amplification is ρ/(ρ − 1): largest just past capacity, ×1 at rate=inf, so the TTFT overhead
peaks around ρ = 1 from both sides.

Every overhead here is computed by the statistics home (:func:`profiler.analysis.stats.overhead`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from profiler.analysis import stats
from profiler.results.comparison import MetricRow
from profiler.results.load_curve import Crossing, QueueCurve, QueueLeg, QueueModel, QueuePoint, Regime

FORM = "mg1"
EQUATION = "TTFT(λ) = T0 + K·ρ/(1 − ρ)·(1/μ), ρ = λ/μ, K = (1 + c²)/2 (M/G/1, Pollaczek–Khinchine)"
#: An open-loop point that achieved less than this share of its offered rate could not keep
#: up: its throughput measures the capacity. A stable run's throughput falls short of its
#: rate only by the arrival noise and the last requests' tail (the paper's 70B run at 1 req/s
#: achieved 0.89 req/s), so the margin is wide.
KEEP_UP = 0.8
LEGS = ("on", "off")
DEFAULT_LIMIT_PCT = 10.0
CURVE_POINTS = 200

ASSUMPTIONS = [
    "Each leg is one server whose capacity μ is its best measured throughput; at least one point must "
    f"have saturated it: the rate=inf run, or a load it could not keep up with (achieved < {KEEP_UP:.0%} "
    "of offered).",
    "Below capacity the mean wait follows the M/G/1 (Pollaczek–Khinchine) formula: Poisson arrivals, "
    "one service-time distribution per leg with c² shared by both legs (the same workload).",
    "TTFT = T0 + wait; T0, the TTFT at zero load (prefill, transport), is fitted per leg.",
    "A continuous-batching engine is not one FIFO server: below its batch and KV-cache limits it admits "
    "requests at once and slows decoding instead, so part of the load shows in TPOT, not TTFT; "
    "K absorbs this only on average.",
    "Above capacity there is no steady state: a finite run's TTFT grows with its length. Only the ratio "
    "of the legs' queue growth, (1/μ_on − 1/λ)/(1/μ_off − 1/λ), is predicted there.",
]


@dataclass(frozen=True)
class LegObs:
    """One leg at one load point."""

    rate: float  # the arrival rate the leg saw (offered; closed loop: achieved, inf once saturated)
    qps: float | None  # achieved request throughput
    ttft_ms: float | None  # mean TTFT
    saturated: bool  # this point measured the leg's capacity


@dataclass(frozen=True)
class PointObs:
    name: str
    request_rate: float | None  # the offered load, as shown
    on: LegObs
    off: LegObs
    measured: MetricRow | None = None  # the comparison's mean TTFT row (overhead and CI)


def keeps_up(rate: float | None, qps: float | None) -> bool:
    """Whether an open-loop point delivered its offered rate (False: it measured capacity)."""
    if rate is None or qps is None:
        return True
    return not math.isinf(rate) and qps >= KEEP_UP * rate


def _queue_s(lam: float, mu: float) -> float:
    """The M/M/1 queueing delay (s) per unit K at arrival rate ``lam`` and capacity ``mu``."""
    return lam / (mu * (mu - lam))


def unsupported(reason: str) -> QueueModel:
    return QueueModel(form=FORM, equation=EQUATION, supported=False, reason=reason, assumptions=ASSUMPTIONS)


def _stable(obs: Sequence[LegObs], mu: float) -> list[tuple[float, float]]:
    return [
        (o.rate, o.ttft_ms / 1e3)
        for o in obs
        if not o.saturated
        and math.isfinite(o.rate)
        and 0 < o.rate < mu
        and o.ttft_ms is not None
        and o.ttft_ms > 0
    ]


def fit(points: Sequence[PointObs], limit_pct: float = DEFAULT_LIMIT_PCT) -> QueueModel:
    """The model of both legs, its prediction at every point, and the limit's crossing load."""
    legs = {leg: [(p.name, getattr(p, leg)) for p in points] for leg in LEGS}
    return fit_legs(legs, points, limit_pct)


def fit_legs(
    legs: dict[str, list[tuple[str, LegObs]]],
    points: Sequence[PointObs] = (),
    limit_pct: float = DEFAULT_LIMIT_PCT,
) -> QueueModel:
    """The model from each leg's own points (a sweep's legs may stop at different loads);
    ``points`` are the loads both legs measured, predicted and compared one by one."""
    for leg in LEGS:
        if len(legs.get(leg, [])) < 2:
            n = len(legs.get(leg, []))
            return unsupported(
                f"fewer than 2 load points on leg {leg} ({n}): one point cannot show how TTFT grows with load"
            )
    obs = {leg: [o for _, o in legs[leg]] for leg in LEGS}
    mu: dict[str, float] = {}
    source: dict[str, str] = {}
    for leg in LEGS:
        if not any(o.saturated and o.qps for _, o in legs[leg]):
            return unsupported(
                f"no saturated point on leg {leg}: its service capacity was not measured "
                "(add a rate=inf run, or a rate the leg cannot keep up with)"
            )
        # every achieved throughput is a lower bound on capacity: the plateau is the best of them
        best = max(((o.qps, name) for name, o in legs[leg] if o.qps), key=lambda s: s[0] or 0.0)
        mu[leg], source[leg] = float(best[0] or 0.0), f"achieved throughput at {best[1]}"
    stable = {leg: _stable(obs[leg], mu[leg]) for leg in LEGS}
    for leg in LEGS:
        if not stable[leg]:
            return unsupported(
                f"no point below capacity on leg {leg} (capacity {mu[leg]:.3g} req/s): "
                "its zero-load TTFT cannot be calibrated"
            )
    k, t0, fitted = _fit_k(stable, mu)
    if k is None or k <= 0:
        return unsupported(
            f"TTFT does not grow with load below capacity (fitted K = {k:.3g}): no queueing term to model"
            if k is not None
            else "the points below capacity are degenerate (the fit has no solution)"
        )
    bad = [leg for leg in LEGS if not t0[leg] > 0]
    if bad:
        return unsupported(
            f"leg {bad[0]}: its mean TTFT is below the modelled queueing delay alone (T0 ≤ 0 with K = {k:.3g}"
            f"{'' if fitted else ', assumed'}): the M/G/1 law does not describe it"
        )
    model = QueueModel(
        form=FORM,
        equation=EQUATION,
        supported=True,
        assumptions=_assumptions(fitted),
        k=k,
        k_fitted=fitted,
        capacity_overhead_pct=float(stats.overhead(mu["on"], mu["off"], "throughput")),
        legs={leg: _leg(mu[leg], t0[leg], k, source[leg], len(stable[leg])) for leg in LEGS},
    )
    alone = not fitted and all(len(stable[leg]) == 1 for leg in LEGS)
    model.points = [_point(model, p, alone) for p in points]
    model.crossing = crossing(model, limit_pct)
    model.curve = _curve(model)
    return model


def _assumptions(fitted: bool) -> list[str]:
    k = (
        "K is fitted (shared by the legs) on the points below capacity."
        if fitted
        else "K = 1 is assumed (exponential service, M/M/1): too few points below capacity to fit it."
    )
    return [*ASSUMPTIONS, k]


def _fit_k(
    stable: dict[str, list[tuple[float, float]]], mu: dict[str, float]
) -> tuple[float | None, dict[str, float], bool]:
    """(K, T0 per leg in s, fitted?) by least squares: TTFT = T0_leg + K·x."""
    rows = [(leg, _queue_s(lam, mu[leg]), ttft) for leg in LEGS for lam, ttft in stable[leg]]
    distinct = max(len({lam for lam, _ in stable[leg]}) for leg in LEGS)
    if len(rows) >= 3 and distinct >= 2:
        a = np.array([[leg == "on", leg == "off", x] for leg, x, _ in rows], dtype=float)
        y = np.array([t for _, _, t in rows])
        # relative residuals: a mean wait's noise grows with the wait (slow mixing near capacity),
        # so an absolute fit would let the most loaded point decide T0 for every other
        sol, _, rank, _ = np.linalg.lstsq(a / y[:, None], np.ones_like(y), rcond=None)
        if rank < 3:
            return None, {}, True
        return float(sol[2]), {"on": float(sol[0]), "off": float(sol[1])}, True
    k = 1.0
    t0 = {leg: float(np.mean([t - k * _queue_s(lam, mu[leg]) for lam, t in stable[leg]])) for leg in LEGS}
    return k, t0, False


def _leg(mu: float, t0_s: float, k: float, source: str, n: int) -> QueueLeg:
    # queueing delay = T0 where K·λ/(μ(μ − λ)) = T0, i.e. λ = T0·μ² / (K + T0·μ)
    knee = t0_s * mu * mu / (k + t0_s * mu)
    return QueueLeg(
        capacity_qps=mu,
        capacity_from=source,
        t0_ms=1e3 * t0_s,
        knee_rate=knee,
        knee_utilisation=knee / mu,
        stable_points=n,
    )


def predict_ms(model: QueueModel, leg: str, lam: float) -> float | None:
    """Modelled mean TTFT (ms) of ``leg`` at arrival rate ``lam``; None at or above capacity."""
    q = model.legs.get(leg)
    if not model.supported or q is None or q.capacity_qps is None or q.t0_ms is None or model.k is None:
        return None
    if not (0 <= lam < q.capacity_qps):
        return None
    return q.t0_ms + 1e3 * model.k * _queue_s(lam, q.capacity_qps)


def predicted_overhead(model: QueueModel, lam: float) -> float | None:
    """Modelled TTFT overhead (%) at the same arrival rate on both legs; None above a capacity."""
    on, off = predict_ms(model, "on", lam), predict_ms(model, "off", lam)
    if on is None or off is None:
        return None
    return float(stats.overhead(on, off, "latency"))


def _point(model: QueueModel, p: PointObs, alone: bool) -> QueuePoint:
    mu = {leg: model.legs[leg].capacity_qps or math.nan for leg in LEGS}
    lam = {"on": p.on.rate, "off": p.off.rate}
    util = {leg: (lam[leg] / mu[leg] if math.isfinite(lam[leg]) else None) for leg in LEGS}
    over = {leg: not (lam[leg] < mu[leg]) for leg in LEGS}
    row = p.measured
    base = dict(
        name=p.name,
        request_rate=p.request_rate,
        utilisation_on=util["on"],
        utilisation_off=util["off"],
        measured_on_ms=p.on.ttft_ms,
        measured_off_ms=p.off.ttft_ms,
        measured_overhead_pct=row.overhead_pct if row else None,
        ci_low=row.ci_low if row else None,
        ci_high=row.ci_high if row else None,
    )
    regime: Regime
    if not over["on"] and not over["off"]:
        on, off = predict_ms(model, "on", lam["on"]), predict_ms(model, "off", lam["off"])
        rho = util["off"] or 0.0
        return QueuePoint(
            **base,
            regime="stable",
            predicted_on_ms=on,
            predicted_off_ms=off,
            predicted_overhead_pct=None
            if on is None or off is None
            else float(stats.overhead(on, off, "latency")),
            amplification=(2 - rho) / (1 - rho),
            calibration=alone,
            note="T0 calibrated on this point: predicted = measured by construction" if alone else "",
        )
    if over["on"] and over["off"]:
        # queues grow as (1/μ − 1/λ) per arrival; their ratio is the overhead once queueing dominates
        wait = {leg: 1 / mu[leg] - (0.0 if math.isinf(lam[leg]) else 1 / lam[leg]) for leg in LEGS}
        pred = (
            float(stats.overhead(wait["on"], wait["off"], "latency"))
            if wait["on"] > 0 and wait["off"] > 0
            else None
        )
        regime = "overloaded"
        note = "above both capacities: no steady state; overhead = ratio of queue growth (T0 neglected)"
        # d ln(1/μ − 1/λ) / d ln μ = −λ/(λ − μ): just past capacity a small loss is amplified most
        rho = lam["off"] / mu["off"]
        amplification = 1.0 if math.isinf(rho) else rho / (rho - 1) if rho > 1 else None
    else:
        pred, regime, amplification = None, "unbounded", None
        leg = "on" if over["on"] else "off"
        note = (
            f"above leg {leg}'s capacity only: its queue grows without bound while the other's stays finite"
        )
    return QueuePoint(
        **base,
        regime=regime,
        predicted_on_ms=None,
        predicted_off_ms=None,
        predicted_overhead_pct=pred,
        amplification=amplification,
        note=note,
    )


def crossing(model: QueueModel, limit_pct: float) -> Crossing:
    """The lowest offered load at which the modelled TTFT overhead reaches ``limit_pct``."""
    mu_on = model.legs["on"].capacity_qps or math.nan
    mu_off = model.legs["off"].capacity_qps or math.nan
    top = min(mu_on, mu_off)
    at_zero = predicted_overhead(model, 0.0)
    if at_zero is not None and at_zero >= limit_pct:
        return Crossing(
            limit_pct=limit_pct,
            rate=0.0,
            utilisation_off=0.0,
            note=(
                f"already {at_zero:.1f}% at zero load: the TEE's TTFT cost above the limit is not queueing"
            ),
        )
    grid = top * (1 - np.geomspace(1, 1e-6, 2000))  # dense near capacity, where the curve turns
    values = np.array([predicted_overhead(model, float(x)) for x in grid], dtype=float)
    hit = np.nonzero(values >= limit_pct)[0]
    if hit.size == 0:
        why = (
            "the TEE leg has at least the baseline's capacity"
            if mu_on >= mu_off
            else "the curve stays under it"
        )
        return Crossing(
            limit_pct=limit_pct,
            rate=None,
            utilisation_off=None,
            note=(
                f"the modelled TTFT overhead stays below {limit_pct:g}% up to capacity "
                f"({top:.3g} req/s): {why}"
            ),
        )
    i = int(hit[0])
    lo, hi = float(grid[max(i - 1, 0)]), float(grid[i])
    rate = (
        lo if lo == hi else float(brentq(lambda x: (predicted_overhead(model, x) or 0.0) - limit_pct, lo, hi))
    )
    return Crossing(
        limit_pct=limit_pct,
        rate=rate,
        utilisation_off=rate / mu_off,
        note=(
            f"the modelled TTFT overhead reaches {limit_pct:g}% at {rate:.3g} req/s "
            f"({rate / mu_off:.0%} of the baseline's capacity)"
        ),
    )


def _curve(model: QueueModel) -> QueueCurve:
    top = min(model.legs[leg].capacity_qps or math.nan for leg in LEGS)
    rates = [float(x) for x in top * (1 - np.geomspace(1, 2e-3, CURVE_POINTS))]
    return QueueCurve(
        rates=rates,
        overhead_pct=[predicted_overhead(model, x) for x in rates],
        ttft_on_ms=[predict_ms(model, "on", x) for x in rates],
        ttft_off_ms=[predict_ms(model, "off", x) for x in rates],
    )
