"""Plan arithmetic: replicas, GPUs and cost per leg for a target load, from SLO-bound capacity.

Per leg, with C the SLO-bound request throughput of one replica (slo.py), K GPUs per replica and
P the price of a GPU-hour:

    replicas           = ceil(target_qps / C)
    gpus               = replicas × K
    cost per hour      = gpus × P
    cost per 1M output tokens = cost per hour / (target_qps × tokens per request × 3600) × 1e6
                         (the traffic actually served; tokens per request at the operating point)

Across legs (off = the baseline, DESIGN §4 signs: positive = the TEE costs):

    capacity overhead  = (C_off − C_on) / C_off
    cost-performance   = (TPS_on / cost_on) / (TPS_off / cost_off), TPS = SLO-bound output
                         tokens/s of one replica, cost = K × P per replica-hour (the seed's §VI
                         ratio; without prices, cost = GPUs, i.e. throughput per GPU)

Both carry the bootstrap CI of bootstrap.py. The plan also states the TTFT overhead expected at
the load each replica gets (target / replicas), from the queueing model of the sweep's legs
(load_curve.py; a point estimate, or why the sweep cannot support the model).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from profiler.analysis.stats import finite_count, percentile_ci
from profiler.capacity.bootstrap import Replicates, replicate_capacities
from profiler.capacity.load_curve import latency_at_plan, latency_sentence
from profiler.capacity.slo import Capacity, Slos, capacity_of
from profiler.capacity.sweepfile import SweepData, read_sweep
from profiler.errors import UserError
from profiler.store import utc_now

#: ceil() tolerance: 3.0000000001 replicas of float noise is 3 replicas, not 4.
_EPS = 1e-9


def replicas_needed(target_qps: float, capacity_qps: float) -> int:
    return max(1, math.ceil(target_qps / capacity_qps - _EPS))


@dataclass(frozen=True)
class LegPlan:
    label: str
    capacity: Capacity
    replicas: int | None
    gpus: int | None
    gpu_hour_cost: float | None
    cost_per_hour: float | None
    served_output_tps: float | None
    cost_per_million_output_tokens: float | None
    utilisation: float | None  # target / provisioned SLO-bound capacity

    def to_dict(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity.to_dict(),
            "replicas": self.replicas,
            "gpus": self.gpus,
            "gpu_hour_cost": self.gpu_hour_cost,
            "cost_per_hour": self.cost_per_hour,
            "served_output_tps": self.served_output_tps,
            "cost_per_million_output_tokens": self.cost_per_million_output_tokens,
            "utilisation": self.utilisation,
        }


def plan_leg(
    label: str, cap: Capacity, target_qps: float, gpus_per_replica: int, gpu_hour_cost: float | None
) -> LegPlan:
    if cap.qps is None or cap.qps <= 0:
        return LegPlan(label, cap, None, None, gpu_hour_cost, None, None, None, None)
    replicas = replicas_needed(target_qps, cap.qps)
    gpus = replicas * gpus_per_replica
    tpr = cap.tokens_per_request
    served = target_qps * tpr if tpr is not None else None
    cost_h = gpus * gpu_hour_cost if gpu_hour_cost is not None else None
    per_m = cost_h / (served * 3600) * 1e6 if cost_h is not None and served else None
    util = target_qps / (replicas * cap.qps)
    return LegPlan(label, cap, replicas, gpus, gpu_hour_cost, cost_h, served, per_m, util)


def _ci(reps: np.ndarray | None) -> tuple[float | None, float | None, int]:
    """(low, high, finite replicates) from the one percentile interval of the statistics home."""
    if reps is None:
        return None, None, 0
    ci = percentile_ci(reps)
    return (ci[0] if ci else None), (ci[1] if ci else None), finite_count(reps)


def _ci_block(point: float | None, reps: np.ndarray | None, n_boot: int) -> dict[str, Any]:
    lo, hi, n = _ci(reps)
    return {
        "value_pct": None if point is None else 100 * point,
        "ci_low_pct": None if lo is None else 100 * lo,
        "ci_high_pct": None if hi is None else 100 * hi,
        "significant": None if lo is None or hi is None else bool(lo > 0 or hi < 0),
        "n_valid": n,
        "n_boot": n_boot,
    }


def _overhead(on: Capacity, off: Capacity, replicates: Replicates | None) -> dict[str, Any] | None:
    if not on.qps or not off.qps:
        return None
    reps = None
    if replicates is not None:
        q_on, q_off = replicates.qps["on"], replicates.qps["off"]
        with np.errstate(all="ignore"):
            reps = (q_off - q_on) / q_off
    n_boot = replicates.n_boot if replicates else 0
    return {"metric": "slo_bound_request_throughput", **_ci_block((off.qps - on.qps) / off.qps, reps, n_boot)}


def _cost_performance(
    on: Capacity, off: Capacity, cost_on: float, cost_off: float, replicates: Replicates | None, unit: str
) -> dict[str, Any] | None:
    t_on, t_off = on.output_tps, off.output_tps
    if not t_on or not t_off or not on.qps or not off.qps:
        return None
    reps = None
    if replicates is not None:
        with np.errstate(all="ignore"):
            reps = (replicates.output_tps["on"] / cost_on) / (replicates.output_tps["off"] / cost_off)
    lo, hi, n = _ci(reps)
    return {
        "unit": unit,
        "on": t_on / cost_on,
        "off": t_off / cost_off,
        "ratio": (t_on / cost_on) / (t_off / cost_off),
        "ci_low": lo,
        "ci_high": hi,
        "n_valid": n,
    }


def make_plan(
    caps: Mapping[str, Capacity],
    slos: Slos,
    *,
    target_qps: float,
    gpus_per_replica: int = 1,
    gpu_hour_cost: Mapping[str, float] | None = None,
    replicates: Replicates | None = None,
    aa: bool = False,
) -> dict[str, Any]:
    """The plan as a JSON-ready dict (legs "on" and "off"; "off" is the baseline).

    ``gpu_hour_cost`` needs a price for every leg, or none (then costs are omitted and the
    cost-performance ratio is throughput per GPU).
    """
    prices = dict(gpu_hour_cost or {})
    if prices and set(prices) != set(caps):
        raise ValueError(f"GPU-hour prices for {sorted(prices)} but legs {sorted(caps)}")
    legs = {
        label: plan_leg(label, cap, target_qps, gpus_per_replica, prices.get(label))
        for label, cap in caps.items()
    }
    warnings = [f"{k}: {lp.capacity.note}" for k, lp in legs.items() if lp.capacity.kind != "interpolated"]
    overhead: dict[str, Any] | None = None
    costperf: dict[str, Any] | None = None
    if "on" in caps and "off" in caps:
        overhead = _overhead(caps["on"], caps["off"], replicates)
        # cost of one replica-hour; without prices a GPU-hour is the unit (throughput per GPU)
        costperf = _cost_performance(
            caps["on"], caps["off"],
            gpus_per_replica * prices.get("on", 1.0), gpus_per_replica * prices.get("off", 1.0),
            replicates, "output tokens/s per $/h" if prices else "output tokens/s per GPU",
        )
    plan: dict[str, Any] = {
        "target_qps": target_qps,
        "slos": slos.to_dict(),
        "max_error_rate": slos.max_error_rate,
        "gpus_per_replica": gpus_per_replica,
        "gpu_hour_cost": prices or None,
        "aa": aa,
        "legs": {label: lp.to_dict() for label, lp in legs.items()},
        "capacity_overhead": overhead,
        "cost_performance": costperf,
        "bootstrap": None
        if replicates is None
        else {
            "n_boot": replicates.n_boot,
            "seed": replicates.seed,
            "method": "requests resampled per load point and leg; SLO statistics and capacity recomputed",
            "fixed_points": replicates.fixed_points,
        },
        "warnings": warnings,
    }
    plan["sentence"] = sentence(plan, slos)
    return plan


def _leg_words(leg: Mapping[str, Any], prices: bool) -> str:
    r, g = leg["replicas"], leg["gpus"]
    words = f"{r} replica{'s' if r != 1 else ''} ({g} GPU{'s' if g != 1 else ''}"
    if prices and leg["cost_per_hour"] is not None:
        words += f", ${leg['cost_per_hour']:,.2f}/h"
        if leg["cost_per_million_output_tokens"] is not None:
            words += f", ${leg['cost_per_million_output_tokens']:,.2f} per million output tokens"
    return words + ")"


_QUALIFIER = {
    "lower_bound": "its capacity is only a lower bound (every measured load met the SLOs)",
    "extrapolated": "its capacity is extrapolated below the lowest measured load",
    "measured": "its capacity is a measured point",
}


def sentence(plan: Mapping[str, Any], slos: Slos) -> str:
    """The answer in one paragraph."""
    legs = plan["legs"]
    target = plan["target_qps"]
    missing = [label for label, leg in legs.items() if leg["replicas"] is None]
    if missing:
        notes = "; ".join(f"{label}: {legs[label]['capacity']['note']}" for label in missing)
        return f"No plan for {target:g} req/s under {slos.describe()}: {notes}."
    prices = plan["gpu_hour_cost"] is not None
    text = f"To serve {target:g} req/s under {slos.describe()}"
    aa = bool(plan.get("aa"))
    if "on" in legs and "off" in legs:
        with_, without = ("on leg on", "on leg off") if aa else ("with the TEE", "without it")
        text += (
            f", you need {_leg_words(legs['on'], prices)} {with_} and "
            f"{_leg_words(legs['off'], prices)} {without}."
        )
    else:  # one leg measured (e.g. an interrupted sweep)
        parts = [f", you need {_leg_words(leg, prices)} on leg {label}" for label, leg in legs.items()]
        text += "".join(parts) + "."
    ov = plan.get("capacity_overhead")
    if ov and ov["value_pct"] is not None:
        ci = ""
        if ov["ci_low_pct"] is not None:
            ci = f" (95% CI {ov['ci_low_pct']:.1f}% to {ov['ci_high_pct']:.1f}%"
            ci += ", significant)" if ov["significant"] else ", not significant)"
        if plan.get("aa"):
            # same endpoint on both legs: any difference is this host's noise, never the TEE
            text += (
                f" Both legs are the same endpoint (A/A calibration): (off − on) / off of their SLO-bound "
                f"capacities is {ov['value_pct']:.1f}%{ci}, which is noise, not the TEE."
            )
            if ov["significant"]:
                text += (
                    " A 'significant' A/A difference means this host's noise is larger than the CI "
                    "captures (one run per point, or too few --repeats): treat TEE overheads of this "
                    "size as noise here."
                )
        else:
            verb = "lowers" if ov["value_pct"] >= 0 else "raises"
            size = abs(ov["value_pct"])
            text += f" The TEE {verb} the SLO-bound capacity of one replica by {size:.1f}%{ci}."
    elif plan.get("aa"):
        text += " Both legs are the same endpoint (A/A): differences are noise, not the TEE."
    cp = plan.get("cost_performance")
    if cp:
        text += f" Cost-performance {'on/off' if aa else 'with/without TEE'}: {cp['ratio']:.3f}"
        if cp["ci_low"] is not None:
            text += f" (95% CI {cp['ci_low']:.3f}–{cp['ci_high']:.3f})"
        text += "."
    for label, leg in legs.items():
        kind = leg["capacity"]["kind"]
        if kind in _QUALIFIER:
            text += f" Leg {label}: {_QUALIFIER[kind]}."
    if any(leg["capacity"]["kind"] == "lower_bound" for leg in legs.values()) and ov:
        text += " The overhead compares lower bounds: sweep higher loads before relying on it."
    return text


def plan_sweep(
    sweep_dir: Path,
    *,
    target_qps: float,
    slos: Slos | None = None,
    max_error_rate: float | None = None,
    gpu_hour_cost: Mapping[str, float] | None = None,
    gpus_per_replica: int | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[dict[str, Any], SweepData, dict[str, Capacity]]:
    """Plan from a stored sweep (its SLOs unless ``slos`` is given); returns plan, sweep, capacities."""
    data = read_sweep(sweep_dir)
    if slos is None:
        slos = data.slos(max_error_rate)
    if not data.legs or not any(leg.points for leg in data.legs.values()):
        raise UserError(f"{sweep_dir}: the sweep has no measured load point")
    legs = {label: leg for label, leg in data.legs.items() if leg.points}
    caps = {k: capacity_of(leg.points, slos, saturated=leg.saturation.saturated) for k, leg in legs.items()}
    if gpus_per_replica is None:
        gpus_per_replica = data.section.tensor_parallel_size
    reps = None
    if n_boot > 0:
        saturated = {label: leg.saturation.saturated for label, leg in legs.items()}
        points = {k: v.points for k, v in legs.items()}
        reps = replicate_capacities(points, slos, saturated, n_boot=n_boot, seed=seed)
    plan = make_plan(
        caps, slos, target_qps=target_qps, gpus_per_replica=gpus_per_replica,
        gpu_hour_cost=gpu_hour_cost, replicates=reps, aa=data.aa,
    )
    if data.index.status != "complete":
        plan["warnings"].insert(0, f"the sweep is {data.index.status}: {data.index.reason}")
    # the latency the TEE costs at the provisioned utilisation (queueing model of the legs)
    plan["latency_overhead"] = latency_at_plan(data, plan)
    plan["sentence"] += latency_sentence(plan["latency_overhead"])
    head = {
        "schema_version": 1,
        "kind": "plan",
        "created": utc_now(),
        "sweep": str(data.path),
        "sweep_id": data.index.id,
        "model": data.model,
        "mode": data.mode,
    }
    return {**head, **plan}, data, caps
