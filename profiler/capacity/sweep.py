"""The sweep driver: both legs, increasing load, one run directory per point, stop at saturation.

Points are interleaved across legs (on, off at one load; off, on at the next) so slow drift of the
host hits both legs alike (DESIGN §4). A leg stops when the saturation detector fires on its
latest point (or its run came back incomplete); the other leg goes on. ``sweep.json`` is rewritten
after every point, so a sweep that dies still says what it measured; Ctrl-C marks it incomplete.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console

from profiler import __version__
from profiler.capacity.points import LoadPoint, combine, point_from_run
from profiler.capacity.saturation import Saturation, SaturationPolicy, detect
from profiler.capacity.slo import Capacity, Slos, capacity_of
from profiler.capacity.sweepfile import LEG_ORDER, SWEEP, point_record
from profiler.config import WorkloadSpec
from profiler.store import MANIFEST, new_run_id, read_json, utc_now, write_json

MODES = ("concurrency", "rate")


class LegLike(Protocol):
    """What the driver needs of a leg (profiler.orchestrator.Leg has these; read-only)."""

    @property
    def label(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def served_model(self) -> str: ...
    @property
    def engine(self) -> Any: ...
    @property
    def metrics_url(self) -> str | None: ...


#: (runs_dir, leg, workload of the point, request rate, extra manifest) -> the run directory
PointRunner = Callable[[Path, LegLike, WorkloadSpec, float, dict[str, Any]], Path]


def execute_run_runner(
    model_key: str | None, tokenizer: str | None = None, progress: bool = True
) -> PointRunner:
    """The real point runner: ``profiler.runs.execute_run`` (it shows the per-request bar)."""

    def run(runs: Path, leg: LegLike, workload: WorkloadSpec, rate: float, extra: dict[str, Any]) -> Path:
        from profiler.runs import execute_run

        return execute_run(
            runs,
            endpoint=leg.base_url,
            served_model=leg.served_model,
            workload=workload,
            request_rate=rate,
            label=leg.label,
            model_key=model_key,
            engine=dict(leg.engine) if leg.engine else None,
            tokenizer=tokenizer or getattr(leg, "tokenizer", None),
            extra_manifest=extra,
            metrics_url=leg.metrics_url,
            progress=progress,
        )

    return run


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

    def point(self, load: float) -> tuple[WorkloadSpec, float]:
        """The workload and request rate of one load point."""
        if self.mode == "concurrency":
            update: dict[str, Any] = {"concurrency": int(load), "request_rates": [math.inf], "repeats": 1}
            return self.workload.model_copy(update=update), math.inf
        cap = self.max_concurrency or self.workload.num_requests
        # the default warm-up (= concurrency) would be the whole uncapped run again; a few
        # requests warm connections and the engine just as well
        warmup = self.workload.warmup if self.workload.warmup is not None else min(cap, 8)
        update = {"concurrency": cap, "request_rates": [load], "repeats": 1, "warmup": warmup}
        return self.workload.model_copy(update=update), load


@dataclass
class _LegState:
    leg: LegLike
    points: list[LoadPoint] = field(default_factory=list)
    saturation: Saturation = field(default_factory=lambda: Saturation(False))
    stopped: str | None = None  # why no further point is run


def new_sweep_id(model: str | None) -> str:
    return new_run_id("sweep", model)


class SweepDriver:
    """Runs one sweep into ``<out>/<sweep_id>/``; :meth:`run` returns that directory."""

    def __init__(
        self,
        out: Path,
        spec: SweepSpec,
        legs: Sequence[LegLike],
        runner: PointRunner,
        *,
        sweep_id: str | None = None,
        console: Console | None = None,
        progress: bool = True,
    ) -> None:
        self.spec = spec
        self.legs = sorted(legs, key=lambda leg: LEG_ORDER.index(leg.label) if leg.label in LEG_ORDER else 9)
        self.runner = runner
        self.sweep_id = sweep_id or new_sweep_id(spec.model_key)
        self.path = Path(out) / self.sweep_id
        self.runs = self.path / "runs"
        self.console = console or Console(stderr=True)
        self.progress = progress
        self.state = {leg.label: _LegState(leg) for leg in self.legs}
        self.started = utc_now()
        self.capacities: dict[str, Capacity] = {}

    # ---------------------------------------------------------------- the loop
    def run(self) -> Path:
        self.runs.mkdir(parents=True, exist_ok=False)
        self._write("running")
        reps = self.spec.repeats
        total = len(self.spec.loads) * len(self.legs) * reps
        done = 0
        parts: dict[str, list[LoadPoint]] = {}
        try:
            for k, load in enumerate(self.spec.loads):
                parts = {leg.label: [] for leg in self.legs}
                for r in range(reps):
                    # ABBA across loads and repetitions: on, off / off, on / on, off …
                    order = self.legs if (k * reps + r) % 2 == 0 else list(reversed(self.legs))
                    for leg in order:
                        if self.state[leg.label].stopped:
                            continue
                        done += 1
                        rep = f" (repeat {r + 1}/{reps})" if reps > 1 else ""
                        self._say(f"[{done}/{total}] {leg.label}: {self._load_name()} {load:g}{rep}")
                        p = self._run_once(leg, k, r, load)
                        parts[leg.label].append(p)
                        self._say(
                            f"        {p.qps:.2f} req/s, {p.output_tps:.0f} out tok/s, "
                            f"p99 TTFT {p.summary.get('p99_ttft_ms') or math.nan:.1f} ms, "
                            f"failed {p.error_rate:.1%}"
                        )
                        if p.status != "complete":
                            why = f"the run at {self._load_name()} {load:g} is {p.status}"
                            self.state[leg.label].stopped = why
                for leg in self.legs:
                    st = self.state[leg.label]
                    if parts[leg.label]:
                        self._add_point(st, combine(parts[leg.label]))
                        if st.stopped:  # its remaining points will not run
                            total -= (len(self.spec.loads) - k - 1) * reps
                            self._say(f"        {leg.label} stops: {st.stopped}")
                self._write("running")
        except KeyboardInterrupt:
            self._finish("incomplete", "interrupted (Ctrl-C)", pending=parts)
            raise
        except Exception as exc:
            self._finish("incomplete", f"{type(exc).__name__}: {exc}", pending=parts)
            raise
        return self._finish("complete", None)

    def _say(self, text: str) -> None:
        if self.progress:
            self.console.print(text, highlight=False)

    def _run_once(self, leg: LegLike, k: int, r: int, load: float) -> LoadPoint:
        workload, rate = self.spec.point(load)
        info = {"sweep_id": self.sweep_id, "index": k, "repeat": r, "mode": self.spec.mode, "load": load}
        run_dir = self.runner(self.runs, leg, workload, rate, {"sweep": info})
        return point_from_run(Path(run_dir), load, closed_loop=self.closed, rel_to=self.path)

    def _add_point(self, st: _LegState, point: LoadPoint) -> None:
        st.points.append(point)
        st.saturation = detect(st.points, self.spec.policy)
        if st.stopped:
            return
        if point.status != "complete":
            st.stopped = f"the run at {self._load_name()} {point.load:g} is {point.status}"
        elif st.saturation.saturated and self.spec.stop_on_saturation:
            st.stopped = f"saturated at {self._load_name()} {point.load:g}: {st.saturation.reason}"

    @property
    def closed(self) -> bool:
        return self.spec.mode == "concurrency"

    def _load_name(self) -> str:
        return "concurrency" if self.spec.mode == "concurrency" else "rate"

    # ---------------------------------------------------------------- sweep.json
    def _adopt_orphans(self, pending: dict[str, list[LoadPoint]]) -> None:
        """Runs of the interrupted load (finished repetitions, and the run that was cut short and
        saved by its runner) are measurements: add them as that load's point."""
        known = {run for st in self.state.values() for p in st.points for run in p.runs}
        known |= {p.run for parts in pending.values() for p in parts if p.run}
        for d in sorted(self.runs.iterdir()) if self.runs.is_dir() else []:
            rel = str(d.relative_to(self.path))
            if rel in known or not (d / MANIFEST).is_file():
                continue
            manifest = read_json(d / MANIFEST)
            info = manifest.get("sweep") or {}
            label = manifest.get("label")
            if label in pending and "load" in info:
                point = point_from_run(d, float(info["load"]), closed_loop=self.closed, rel_to=self.path)
                pending[str(label)].append(point)
        for label, parts in pending.items():
            st = self.state[label]
            done = {p.load for p in st.points}
            if parts and parts[0].load not in done:
                st.points.append(combine(parts))

    def _finish(
        self, status: str, reason: str | None, pending: dict[str, list[LoadPoint]] | None = None
    ) -> Path:
        if status != "complete":
            self._adopt_orphans(pending or {})
        for label, st in self.state.items():
            # a run cut short (Ctrl-C, server death) stays in sweep.json but its partial numbers
            # never become an operating point
            usable = _complete(st.points)
            st.saturation = detect(usable, self.spec.policy)
            if usable:
                sat = st.saturation.saturated
                self.capacities[label] = capacity_of(usable, self.spec.slos, saturated=sat)
        plots = self._plot()
        self._write(status, reason, plots)
        return self.path

    def _plot(self) -> list[str]:
        legs = {label: _complete(st.points) for label, st in self.state.items() if _complete(st.points)}
        if not legs:
            return []
        from profiler.capacity.plots import pareto_plot

        title = f"{self.spec.model_key or 'sweep'}: throughput vs latency ({self.sweep_id})"
        path = pareto_plot(legs, self.path / "pareto.png", slos=self.spec.slos or None,
                           capacities=self.capacities, mode=self.spec.mode, title=title)
        return [str(path.relative_to(self.path))]

    def _write(self, status: str, reason: str | None = None, plots: Sequence[str] = ()) -> None:
        urls = {st.leg.base_url for st in self.state.values()}
        data: dict[str, Any] = {
            "schema_version": 1,
            "kind": "sweep",
            "sweep_id": self.sweep_id,
            "tool_version": __version__,
            "model": self.spec.model_key,
            "mode": self.spec.mode,
            "loads": list(self.spec.loads),
            "max_concurrency": self.spec.max_concurrency,
            "tensor_parallel_size": self.spec.tensor_parallel_size,
            "repeats": self.spec.repeats,
            "workload": self.spec.workload.model_dump(mode="json"),
            "slos": self.spec.slos.to_dict(),
            "max_error_rate": self.spec.slos.max_error_rate,
            "saturation_policy": self.spec.policy.to_dict(),
            "stop_on_saturation": self.spec.stop_on_saturation,
            "aa": len(self.state) > 1 and len(urls) == 1,
            "status": status,
            "reason": reason,
            "started": self.started,
            "finished": None if status == "running" else utc_now(),
            "legs": {label: self._leg_json(st) for label, st in self.state.items()},
            "plots": list(plots),
        }
        write_json(self.path / SWEEP, data)

    def _leg_json(self, st: _LegState) -> dict[str, Any]:
        sat = st.saturation
        cap = self.capacities.get(st.leg.label)
        return {
            "base_url": st.leg.base_url,
            "served_model": st.leg.served_model,
            "engine": _plain(st.leg.engine),
            "points": [
                point_record(p, self.spec.mode, self.spec.max_concurrency,
                             sat.reason if sat.saturated and sat.index == k else None)
                for k, p in enumerate(st.points)
            ],
            "saturation": sat.to_dict(),
            "stopped": st.stopped,
            "capacity": cap.to_dict() if cap else None,
        }


def _complete(points: Sequence[LoadPoint]) -> list[LoadPoint]:
    return [p for p in points if p.status == "complete"]


def _plain(engine: Any) -> Any:
    if engine is None or isinstance(engine, (str, int, float, bool)):
        return engine
    if isinstance(engine, Mapping):
        return {str(k): _plain(v) for k, v in engine.items()}
    if isinstance(engine, (list, tuple)):
        return [_plain(v) for v in engine]
    if hasattr(engine, "model_dump"):
        return engine.model_dump(mode="json")
    return str(engine)
