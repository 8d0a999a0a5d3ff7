"""Rich tables: the throughput–latency table of each leg and the plan's summary."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from profiler.capacity.points import DEFAULT_METRICS, LoadPoint, SloStat
from profiler.capacity.saturation import Saturation
from profiler.capacity.slo import Capacity, Slos
from profiler.capacity.sweepfile import SweepData

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
    table = Table(title=title, title_justify="left", pad_edge=False)
    table.add_column("conc" if mode == "concurrency" else "rate", justify="right")
    table.add_column("req/s", justify="right")
    table.add_column("tok/s", justify="right")
    for m in metrics:
        table.add_column(m.label.replace(" (ms)", ""), justify="right")
    table.add_column("fail", justify="right")
    if mode != "concurrency":
        table.add_column("p99 lag", justify="right")
    if slos:
        table.add_column("SLO", justify="center")
    table.add_column("note")
    for k, p in enumerate(points):
        row = [f"{p.load:g}", _f(p.qps, 2), _f(p.output_tps, 0)]
        for m in metrics:
            v = p.value(m)
            over = slos is not None and m in slos.limits and not v <= slos.limits[m]
            row.append(f"[red]{_f(v)}[/red]" if over else _f(v))
        row.append(f"{p.error_rate:.1%}")
        if mode != "concurrency":
            row.append(_f(p.lag_p99_ms))
        if slos:
            ok = p.error_rate <= slos.max_error_rate and all(p.value(m) <= v for m, v in slos.limits.items())
            row.append("[green]✓[/green]" if ok else "[red]✗[/red]")
        note = []
        if p.status != "complete":
            note.append(p.status)
        if saturation and saturation.saturated and saturation.index == k:
            note.append("sat.")
        row.append("; ".join(note))
        table.add_row(*row)
    lines = []
    if saturation and saturation.saturated and saturation.index is not None:
        lines.append(f"saturated at {points[saturation.index].load:g}: {saturation.reason}")
    if capacity is not None:
        lines.append(capacity_line(capacity, mode))
    if lines:
        table.caption = "\n".join(lines)
        table.caption_justify = "left"
    return table


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
    table = Table(title=f"Plan for {plan['target_qps']:g} req/s", title_justify="left")
    for col in ("leg", "capacity req/s", "kind", "replicas", "GPUs", "$/h", "$/M out tok", "util."):
        table.add_column(col, justify="left" if col in ("leg", "kind") else "right")
    for label, leg in plan["legs"].items():
        cap = leg["capacity"]
        table.add_row(
            LEG_TITLE.get(label, label),
            _f(cap["qps"], 3),
            cap["kind"],
            "–" if leg["replicas"] is None else str(leg["replicas"]),
            "–" if leg["gpus"] is None else str(leg["gpus"]),
            _f(leg["cost_per_hour"], 2),
            _f(leg["cost_per_million_output_tokens"], 2),
            "–" if leg["utilisation"] is None else f"{leg['utilisation']:.0%}",
        )
    return table


def print_legs(console: Console, tables: Sequence[Table]) -> None:
    for t in tables:
        console.print(t)


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
            table.caption = f"{table.caption or ''}\nrun(s) cut short, kept but not used: load {cut}".strip()
        tables.append(table)
    return tables
