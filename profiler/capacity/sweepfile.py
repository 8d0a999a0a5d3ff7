"""``sweep.json``: the sweep's experiment index, read back for plan, tables and plots.

    <out>/<sweep_id>/sweep.json            SweepIndex: legs, load points and their run directories,
                                           and the ``sweep`` section (SLOs, saturation, capacity)
    <out>/<sweep_id>/runs/<run_id>/...     one run directory per (leg, load point, repeat)
    <out>/<sweep_id>/pareto.png            throughput vs latency per leg (plots.py)

The numbers under ``sweep.legs.<leg>.points`` are a convenience copy for people and tools
reading the JSON; plan and plots re-read every point from its run directories (the source of
truth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.capacity.points import DEFAULT_METRICS, LoadPoint, combine, point_from_run
from profiler.capacity.saturation import Saturation
from profiler.capacity.slo import Slos
from profiler.errors import UserError
from profiler.results.index import ExperimentIndex, SweepIndex, SweepPointRecord, SweepSection

SWEEP = SweepIndex.FILE


def is_sweep_dir(path: Path) -> bool:
    return (Path(path) / SWEEP).is_file()


def point_record(
    p: LoadPoint, mode: str, max_concurrency: int | None, saturation: str | None
) -> SweepPointRecord:
    """The sweep.json entry of one point (a readable copy of the run's key numbers)."""
    stats = {m.summary_key: p.value(m) for m in DEFAULT_METRICS}
    return SweepPointRecord(
        load=p.load,
        concurrency=int(p.load) if mode == "concurrency" else max_concurrency,
        request_rate=math.inf if mode == "concurrency" else p.load,
        run=p.run,
        runs=p.runs,
        status=p.status,
        qps=p.qps,
        output_tps=p.output_tps,
        error_rate=p.error_rate,
        p99_client_lag_ms=p.lag_p99_ms,
        saturation=saturation,
        **stats,
    )


@dataclass
class SweepLegData:
    label: str
    points: list[LoadPoint]
    saturation: Saturation
    base_url: str | None = None
    served_model: str | None = None
    engine: dict[str, Any] = field(default_factory=dict)
    incomplete: list[LoadPoint] = field(default_factory=list)  # runs cut short: shown, not used


@dataclass
class SweepData:
    path: Path
    index: SweepIndex
    legs: dict[str, SweepLegData]

    @property
    def section(self) -> SweepSection:
        assert self.index.sweep is not None
        return self.index.sweep

    @property
    def mode(self) -> str:
        return self.section.mode

    @property
    def model(self) -> str:
        return self.index.model or ""

    @property
    def aa(self) -> bool:
        return self.index.aa

    def slos(self, max_error_rate: float | None = None) -> Slos:
        rate = self.section.max_error_rate if max_error_rate is None else max_error_rate
        return Slos.from_dict(self.section.slos, float(rate))


def leg_points(
    root: Path, index: ExperimentIndex, leg: str, *, closed: bool
) -> tuple[list[LoadPoint], list[LoadPoint]]:
    """(complete points, points whose runs were cut short) of one leg, from its run directories."""
    complete: list[LoadPoint] = []
    cut: list[LoadPoint] = []
    for entry in index.load_points:
        runs = [r for r in entry.runs.get(leg, []) if (root / r).is_dir()]
        if not runs or entry.load is None:
            continue  # a point this leg never started
        point = combine([point_from_run(root / r, entry.load, closed_loop=closed, rel_to=root) for r in runs])
        (complete if point.status == "complete" else cut).append(point)
    return complete, cut


def read_sweep(path: Path) -> SweepData:
    """Read a sweep directory; every point comes back from its run directories."""
    path = Path(path)
    if not is_sweep_dir(path):
        raise UserError(f"{path} is not a sweep directory (no {SWEEP}); run `tee-llm-prof sweep` first")
    index = SweepIndex.load(path / SWEEP)
    if index.sweep is None:
        raise UserError(f"{path / SWEEP}: no sweep section (the sweep never started a point)")
    closed = index.sweep.mode == "concurrency"
    legs: dict[str, SweepLegData] = {}
    for label, entry in index.legs.items():
        points, incomplete = leg_points(path, index, label, closed=closed)
        result = index.sweep.legs.get(label)
        sat = result.saturation if result is not None else None
        legs[label] = SweepLegData(
            label=label,
            points=points,
            saturation=Saturation(
                bool(sat and sat.saturated), sat.index if sat else None, sat.reason if sat else None
            ),
            base_url=entry.base_url,
            served_model=entry.served_model,
            engine=dict(entry.engine),
            incomplete=incomplete,
        )
    return SweepData(path=path, index=index, legs=legs)
