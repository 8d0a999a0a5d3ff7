"""Sweep and plan views: the throughput–latency table of each leg, and the plan's summary.

Tables are report blocks (:mod:`profiler.report.model`), drawn by any format; the commands
print them with :func:`profiler.report.show`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from profiler.capacity.points import DEFAULT_METRICS, LoadPoint, SloStat
from profiler.capacity.saturation import Saturation
from profiler.capacity.slo import Capacity, Slos
from profiler.capacity.sweepfile import SweepData
from profiler.report.model import Table

LEG_TITLE = {"on": "TEE on", "off": "TEE off"}


def _f(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.{digits}f}"


def leg_table(
    label: str,
    points: Sequence[LoadPoint],
    *,
    mode: str = "concurrency",
    slos: Slos | None = None,
    saturation: Saturation | None = None,
    capacity: Capacity | None = None,
) -> Table:
    metrics: list[SloStat] = list(dict.fromkeys([*(slos.limits if slos else ()), *DEFAULT_METRICS]))
    title = f"{LEG_TITLE.get(label, label)}: throughput vs latency (ms)"
    # short headers: the table must stay readable in an 80-column terminal or a log file
    columns = ["conc" if mode == "concurrency" else "rate", "req/s", "tok/s"]
    columns += [m.label.replace(" (ms)", "") for m in metrics] + ["fail"]
    if mode != "concurrency":
        columns.append("p99 lag")
    if slos:
        columns.append("SLO")
    columns.append("note")
    rows = []
    for k, p in enumerate(points):
        row = [f"{p.load:g}", _f(p.qps, 2), _f(p.output_tps, 0)]
        for m in metrics:
            v = p.value(m)
            over = slos is not None and m in slos.limits and not v <= slos.limits[m]
            row.append(f"{_f(v)}!" if over else _f(v))
        row.append(f"{p.error_rate:.1%}")
        if mode != "concurrency":
            row.append(_f(p.lag_p99_ms))
        if slos:
            ok = p.error_rate <= slos.max_error_rate and all(p.value(m) <= v for m, v in slos.limits.items())
            row.append("✓" if ok else "✗")
        note = []
        if p.status != "complete":
            note.append(p.status)
        if saturation and saturation.saturated and saturation.index == k:
            note.append("sat.")
        row.append("; ".join(note))
        rows.append(row)
    lines = ["! = over its SLO"] if slos else []
    if saturation and saturation.saturated and saturation.index is not None:
        lines.append(f"saturated at {points[saturation.index].load:g}: {saturation.reason}")
    if capacity is not None:
        lines.append(capacity_line(capacity, mode))
    return Table(title, columns, rows, note="; ".join(lines), align=["r"] * (len(columns) - 1) + ["l"])


def capacity_line(cap: Capacity, mode: str) -> str:
    if cap.qps is None:
        return f"SLO-bound capacity: none — {cap.note}"
    load = "concurrency" if mode == "concurrency" else "rate"
    text = f"SLO-bound capacity: {cap.qps:.3g} req/s at {load} ≈ {cap.load:.3g} ({cap.kind})"
    if cap.binding:
        text += f", bound by {cap.binding}"
    if cap.extrapolated_qps:
        text += f"; linear guess above the range: {cap.extrapolated_qps:.3g} req/s"
    return text


def plan_table(plan: Mapping[str, Any]) -> Table:
    columns = ["leg", "capacity req/s", "kind", "replicas", "GPUs", "$/h", "$/M out tok", "util."]
    rows = []
    for label, leg in plan["legs"].items():
        cap = leg["capacity"]
        rows.append([
            LEG_TITLE.get(label, label),
            _f(cap["qps"], 3),
            cap["kind"],
            "–" if leg["replicas"] is None else str(leg["replicas"]),
            "–" if leg["gpus"] is None else str(leg["gpus"]),
            _f(leg["cost_per_hour"], 2),
            _f(leg["cost_per_million_output_tokens"], 2),
            "–" if leg["utilisation"] is None else f"{leg['utilisation']:.0%}",
        ])
    return Table(f"Plan for {plan['target_qps']:g} req/s", columns, rows,
                 align=["l", "r", "l", *["r"] * (len(columns) - 3)])


def sweep_tables(data: SweepData, slos: Slos | None = None) -> list[Table]:
    """One table per leg of a stored sweep, captioned with its SLO-bound capacity."""
    from profiler.capacity.slo import capacity_of

    slos = slos if slos is not None else data.slos()
    tables = []
    for label, leg in data.legs.items():
        cap = capacity_of(leg.points, slos, saturated=leg.saturation.saturated) if leg.points else None
        table = leg_table(
            label, leg.points, mode=data.mode, slos=slos or None, saturation=leg.saturation, capacity=cap
        )
        if leg.incomplete:
            cut = ", ".join(f"{p.load:g}" for p in leg.incomplete)
            cut_note = f"run(s) cut short, kept but not used: load {cut}"
            table.note = "; ".join(x for x in (table.note, cut_note) if x)
        tables.append(table)
    return tables
