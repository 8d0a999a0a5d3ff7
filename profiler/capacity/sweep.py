"""A capacity sweep on the experiment engine: both legs, increasing load, stop at saturation.

The sweep is a description for :class:`profiler.experiment.engine.Experiment`: one load point
per concurrency level (closed loop) or request rate (open loop), ``repeats`` blocks per point,
ABBA order across the whole sweep so slow drift hits both legs alike (DESIGN §4). After every
point the saturation detector looks at each leg's points so far; a saturated leg (or one whose
run came back incomplete) runs no further point, the other leg goes on. ``sweep.json`` is the
experiment's index, with the capacity results in its ``sweep`` section; an interrupted sweep
still gets them for the points that completed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from profiler.capacity.points import LoadPoint, combine, point_from_run
from profiler.capacity.saturation import Saturation, SaturationPolicy, detect
from profiler.capacity.slo import Capacity, Slos, capacity_of
from profiler.capacity.sweepfile import point_record
from profiler.config import WorkloadSpec
from profiler.experiment.designs import DESIGNS
from profiler.experiment.engine import Executor, Experiment, Point, Rules
from profiler.experiment.index import IndexWriter
from profiler.experiment.legs import TEE_OFF, Leg
from profiler.results.index import (
    CapacityEntry,
    DesignEntry,
    PointEntry,
    SaturationEntry,
    SweepLeg,
    SweepSection,
)
from profiler.store import new_run_id

MODES = ("concurrency", "rate")


@dataclass(frozen=True)
class SweepSpec:
    mode: str  # "concurrency" (closed loop, rate = inf) | "rate" (open loop, capped)
    loads: tuple[float, ...]
    workload: WorkloadSpec
    slos: Slos = field(default_factory=Slos)
    policy: SaturationPolicy = field(default_factory=SaturationPolicy)
    max_concurrency: int | None = None  # rate mode: the in-flight cap (default: no real cap)
    stop_on_saturation: bool = True
    model_key: str | None = None
    tensor_parallel_size: int = 1  # GPUs per replica, from models.yaml (the plan's default)
    repeats: int = 1  # runs per (leg, load): their spread is what the bootstrap then resamples

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if not self.loads or any(not (x > 0) or math.isinf(x) for x in self.loads):
            raise ValueError("loads must be positive and finite")
        if list(self.loads) != sorted(set(self.loads)):
            raise ValueError("loads must increase")
        if self.mode == "concurrency" and any(x != int(x) for x in self.loads):
            raise ValueError("concurrency levels must be whole numbers")
        if self.repeats < 1:
            raise ValueError("repeats must be ≥ 1")

    @property
    def closed(self) -> bool:
        return self.mode == "concurrency"

    def point(self, load: float) -> tuple[WorkloadSpec, float]:
        """The workload and request rate of one load point."""
        if self.closed:
            update: dict[str, Any] = {"concurrency": int(load), "request_rates": [math.inf], "repeats": 1}
            return self.workload.model_copy(update=update), math.inf
        cap = self.max_concurrency or self.workload.num_requests
        # the default warm-up (= concurrency) would be the whole uncapped run again; a few
        # requests warm connections and the engine just as well
        warmup = self.workload.warmup if self.workload.warmup is not None else min(cap, 8)
        update = {"concurrency": cap, "request_rates": [load], "repeats": 1, "warmup": warmup}
        return self.workload.model_copy(update=update), load

    def points(self) -> list[Point]:
        out = []
        for load in self.loads:
            workload, rate = self.point(load)
            out.append(Point(f"{self.mode}={load:g}", workload, rate, load))
        return out


def new_sweep_id(model: str | None) -> str:
    return new_run_id("sweep", model)


@dataclass
class _Progress:
    """Each leg's points so far, for the saturation detector between points."""

    spec: SweepSpec
    root: Path
    points: dict[str, list[LoadPoint]] = field(default_factory=dict)

    def after_point(self, point: Point, runs: dict[str, list[Path]]) -> dict[str, str]:
        stop: dict[str, str] = {}
        where = f"{self.spec.mode} {point.load:g}"
        for leg, dirs in runs.items():
            if not dirs:
                continue
            assert point.load is not None
            p = combine([point_from_run(d, point.load, closed_loop=self.spec.closed, rel_to=self.root)
                         for d in dirs])
            self.points.setdefault(leg, []).append(p)
            sat = detect(self.points[leg], self.spec.policy)
            if p.status != "complete":
                stop[leg] = f"the run at {where} is {p.status}"
            elif sat.saturated and self.spec.stop_on_saturation:
                stop[leg] = f"saturated at {where}: {sat.reason}"
        return stop

    def describe(self, run_dir: Path) -> str:
        p = point_from_run(run_dir, 0, closed_loop=self.spec.closed)
        return (f"{p.qps:.2f} req/s, {p.output_tps:.0f} out tok/s, p99 TTFT "
                f"{p.summary.get('p99_ttft_ms') or math.nan:.1f} ms, failed {p.error_rate:.1%}")


def create_sweep(out: Path, spec: SweepSpec, legs: Sequence[Leg], sweep_id: str) -> IndexWriter:
    design = DESIGNS.get("abba")
    return IndexWriter.create(
        out,
        "sweep",
        sweep_id,
        legs=legs,
        model=spec.model_key,
        baseline=TEE_OFF if TEE_OFF in {leg.name for leg in legs} else legs[-1].name,
        design=DesignEntry(name=design.name, description=f"{design.description}, across loads and repeats"),
        workload=spec.workload.model_dump(mode="json"),
        points=[
            PointEntry(
                name=p.name, request_rate=p.request_rate, load=p.load, concurrency=p.workload.concurrency
            )
            for p in spec.points()
        ],
        sweep=_section(spec, {}),
    )


def run_sweep(
    writer: IndexWriter,
    spec: SweepSpec,
    legs: Sequence[Leg],
    executor: Executor,
    *,
    console: Console | None = None,
    progress: bool = True,
) -> Path:
    """Run the sweep; ``sweep.json`` gets its capacity section whatever ends it."""
    state = _Progress(spec, writer.root)
    rules = Rules(after_point=state.after_point, describe=state.describe)
    quiet = Console(stderr=True, quiet=not progress)
    experiment = Experiment(
        writer,
        legs,
        spec.points(),
        executor,
        blocks=spec.repeats,
        design="abba",
        rules=rules,
        console=console if progress and console else quiet,
    )
    try:
        experiment.run()
    finally:
        finish_sweep(writer, spec, experiment.stopped)
    return writer.root


def finish_sweep(writer: IndexWriter, spec: SweepSpec, stopped: dict[str, str]) -> None:
    """Every leg's points from its run directories (incomplete runs shown, never planned on),
    its saturation, SLO-bound capacity and the Pareto plot, into ``sweep.json``."""
    from profiler.capacity.sweepfile import leg_points

    index = writer.index
    legs: dict[str, SweepLeg] = {}
    usable: dict[str, list[LoadPoint]] = {}
    caps: dict[str, Capacity] = {}
    for name in index.legs:
        complete, cut = leg_points(writer.root, index, name, closed=spec.closed)
        sat = detect(complete, spec.policy) if complete else Saturation(False)
        cap = capacity_of(complete, spec.slos, saturated=sat.saturated) if complete else None
        shown = sorted([*complete, *cut], key=lambda p: p.load)
        legs[name] = SweepLeg(
            points=[
                point_record(
                    p,
                    spec.mode,
                    spec.max_concurrency,
                    sat.reason
                    if sat.saturated and sat.index is not None and complete[sat.index] is p
                    else None,
                )
                for p in shown
            ],
            saturation=SaturationEntry(**sat.to_dict()),
            stopped=stopped.get(name),
            capacity=CapacityEntry(**cap.to_dict()) if cap else None,
        )
        if complete:
            usable[name] = complete
        if cap:
            caps[name] = cap
    plots = _plot(writer.root, spec, usable, caps, index.id)
    index.sweep = _section(spec, legs, plots)
    writer.save()


def _section(spec: SweepSpec, legs: dict[str, SweepLeg], plots: Sequence[str] = ()) -> SweepSection:
    return SweepSection(
        mode=spec.mode,
        loads=list(spec.loads),
        max_concurrency=spec.max_concurrency,
        tensor_parallel_size=spec.tensor_parallel_size,
        repeats=spec.repeats,
        slos=spec.slos.to_dict(),
        max_error_rate=spec.slos.max_error_rate,
        saturation_policy=spec.policy.to_dict(),
        stop_on_saturation=spec.stop_on_saturation,
        legs=legs,
        plots=list(plots),
    )


def _plot(
    root: Path, spec: SweepSpec, legs: dict[str, list[LoadPoint]], caps: dict[str, Capacity], sweep_id: str
) -> list[str]:
    if not legs:
        return []
    from profiler.capacity.plots import pareto_plot

    title = f"{spec.model_key or 'sweep'}: throughput vs latency ({sweep_id})"
    path = pareto_plot(
        legs, root / "pareto.png", slos=spec.slos or None, capacities=caps, mode=spec.mode, title=title
    )
    return [str(path.relative_to(root))]
