"""A sweep's load curve, and the TTFT overhead its queueing model expects at a planned load.

The sweep's legs are the load curve's legs: every load both legs measured is compared as
``compare`` compares a pair (``<sweep>/compare/<point>/comparison.json``), and
``<sweep>/compare/load_curve.json`` indexes them. The queueing model
(:mod:`profiler.analysis.queueing`) takes each leg's capacity from the sweep's own saturation
verdict (the plateau: the best throughput from the saturated point on), so a plan can say what
the TEE costs in TTFT at the utilisation it provisions, not only in capacity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from profiler.analysis import queueing, stats
from profiler.analysis.load_curve import LoadKey, build_curve, curve_point
from profiler.capacity.points import SloStat
from profiler.capacity.sweepfile import SweepData, SweepLegData, read_sweep
from profiler.results.load_curve import LoadCurve, QueueModel, Unpaired

COMPARE = "compare"
MEAN_TTFT = SloStat("ttft", "mean")


def _saturated(leg: SweepLegData, k: int, mode: str) -> bool:
    sat = leg.saturation
    by_sweep = sat.saturated and sat.index is not None and k >= sat.index
    return by_sweep or (mode == "rate" and not queueing.keeps_up(leg.points[k].load, leg.points[k].qps))


def leg_observations(data: SweepData) -> dict[str, list[tuple[str, queueing.LegObs]]]:
    """Each leg's points for the model: arrival rate (offered; achieved in a concurrency sweep),
    throughput, mean TTFT, and whether the sweep found the leg saturated there."""
    out = {}
    for label in queueing.LEGS:
        leg = data.legs.get(label)
        points = leg.points if leg is not None else []
        best = max(range(len(points)), key=lambda i: points[i].qps) if points else -1
        obs = []
        for k, p in enumerate(points):
            ttft = p.value(MEAN_TTFT)
            sat = leg is not None and _saturated(leg, k, data.mode)
            if data.mode != "rate":  # closed loop: the best throughput measured the capacity
                sat = sat or (k == best and leg is not None and leg.saturation.saturated)
            # closed loop: arrivals are the throughput; past saturation a queue always waits
            rate = p.load if data.mode == "rate" else (math.inf if sat else p.qps)
            obs.append(
                (
                    f"{data.mode}={p.load:g}",
                    queueing.LegObs(
                        rate=rate,
                        qps=p.qps,
                        ttft_ms=ttft if math.isfinite(ttft) else None,
                        saturated=sat,
                    ),
                )
            )
        out[label] = obs
    return out


def sweep_queue_model(data: SweepData, limit_pct: float = queueing.DEFAULT_LIMIT_PCT) -> QueueModel:
    """The queueing model of a sweep's two legs (each leg on all of its own points)."""
    obs = leg_observations(data)
    on = dict(obs.get("on", []))
    paired = [
        queueing.PointObs(name, o.rate if data.mode == "rate" else None, on[name], o)
        for name, o in obs.get("off", [])
        if name in on
    ]
    return queueing.fit_legs(obs, paired, limit_pct)


def latency_at_plan(
    data: SweepData, plan: Mapping[str, Any], limit_pct: float = queueing.DEFAULT_LIMIT_PCT
) -> dict[str, Any]:
    """Per leg: the load one replica gets (target / replicas), its utilisation of the measured
    capacity and the modelled mean TTFT there; across legs the TTFT overhead (statistics home)."""
    model = sweep_queue_model(data, limit_pct)
    out: dict[str, Any] = {
        "model": model.form,
        "supported": model.supported,
        "reason": model.reason,
        "k": model.k,
        "k_fitted": model.k_fitted,
        "legs": {},
        "ttft_overhead_pct": None,
        "crossing": model.crossing.model_dump() if model.crossing else None,
        "capacity_overhead_pct": model.capacity_overhead_pct,
    }
    if not model.supported:
        return out
    for label, leg in plan["legs"].items():
        if label not in model.legs or not leg.get("replicas"):
            continue
        lam = float(plan["target_qps"]) / int(leg["replicas"])
        mu = model.legs[label].capacity_qps
        out["legs"][label] = {
            "rate_per_replica": lam,
            "utilisation": lam / mu if mu else None,
            "mean_ttft_ms": queueing.predict_ms(model, label, lam),
        }
    legs = out["legs"]
    if all(legs.get(x, {}).get("mean_ttft_ms") is not None for x in ("on", "off")):
        out["ttft_overhead_pct"] = float(
            stats.overhead(legs["on"]["mean_ttft_ms"], legs["off"]["mean_ttft_ms"], "latency")
        )
    return out


def latency_sentence(lat: Mapping[str, Any]) -> str:
    if not lat.get("supported"):
        return f" The TTFT overhead at this load cannot be modelled: {lat.get('reason')}."
    legs = lat["legs"]
    if lat.get("ttft_overhead_pct") is None:
        over = [k for k in ("on", "off") if k in legs and legs[k]["mean_ttft_ms"] is None]
        return (
            " At the planned load the queueing model has no steady state on leg "
            f"{over[0] if over else '?'} (at or above its measured capacity)."
        )
    on, off = legs["on"], legs["off"]
    return (
        f" At the planned load per replica ({on['rate_per_replica']:.3g} req/s with the TEE, "
        f"{on['utilisation']:.0%} of its capacity; {off['rate_per_replica']:.3g} req/s without, "
        f"{off['utilisation']:.0%}) the queueing model expects a mean TTFT of {on['mean_ttft_ms']:.0f} ms vs "
        f"{off['mean_ttft_ms']:.0f} ms: a TTFT overhead of {lat['ttft_overhead_pct']:+.1f}% "
        f"(the capacity overhead is {lat['capacity_overhead_pct']:+.1f}%; no CI)."
    )


def sweep_load_curve(
    path: Path, *, limit_pct: float = queueing.DEFAULT_LIMIT_PCT, n_boot: int = 2000, seed: int = 0
) -> LoadCurve | None:
    """Compare every load both legs measured; ``<sweep>/compare/load_curve.json`` (None: < 2 loads)."""
    from profiler.analysis.compare import compare_runs

    data = read_sweep(path)
    root = Path(path)
    found, unpaired = [], []
    for entry in data.index.load_points:
        runs = {
            leg: [root / r for r in entry.runs.get(leg, []) if (root / r).is_dir()] for leg in queueing.LEGS
        }
        key = LoadKey(entry.request_rate, entry.concurrency)
        if runs["on"] and runs["off"]:
            found.append((entry, key, runs))
        else:
            unpaired += [
                Unpaired(
                    name=entry.name,
                    request_rate=key.rate,
                    concurrency=key.concurrency,
                    leg=leg,
                    runs=[str(r) for r in rs],
                )
                for leg, rs in runs.items()
                if rs
            ]
    if len(found) < 2:
        return None
    points = []
    for entry, key, runs in found:
        out = root / COMPARE / entry.name
        cmp = compare_runs(runs["on"], runs["off"], out, aa=data.aa, n_boot=n_boot, seed=seed)
        points.append(curve_point(entry.name, key, cmp, entry.name))
    obs = leg_observations(data)
    by_name = {leg: {name: o.saturated for name, o in obs[leg]} for leg in queueing.LEGS}
    saturated = {leg: [by_name[leg].get(e.name, False) for e, _, _ in found] for leg in queueing.LEGS}
    curve = build_curve(
        points,
        source="sweep",
        model=data.model or None,
        aa=data.aa,
        load_kind="concurrency" if data.mode == "concurrency" else "rate",
        unpaired=unpaired,
        limit_pct=limit_pct,
        saturated=saturated,
    )
    curve.save(root / COMPARE / LoadCurve.FILE)
    return curve
