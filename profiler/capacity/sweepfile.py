"""``sweep.json``: ties a sweep's legs, load points and run directories together.

    <out>/<sweep_id>/sweep.json
    <out>/<sweep_id>/runs/<run_id>/...     one run directory per (leg, load point), DESIGN §5
    <out>/<sweep_id>/pareto.png            throughput vs latency per leg (plots.py)

sweep.json = {schema_version, kind: "sweep", sweep_id, model, mode: "concurrency"|"rate",
loads, max_concurrency, tensor_parallel_size, repeats, workload, slos: {"ttft_p99_ms": 500, …},
max_error_rate, saturation_policy, aa, status, reason, started, finished,
legs: {"on"|"off": {base_url, served_model, engine, points: [{load, concurrency, request_rate,
run, runs (relative paths; several with repeats), status, qps, output_tps, error_rate,
<stat>_<family>_ms …, saturation}],
saturation: {saturated, index, reason}, capacity: {qps, load, kind, binding, note, …} | null}},
plots: [relative paths]}

The numbers under ``points`` are a convenience copy for people and tools reading the JSON; plan
and plots re-read every point from its run directory (the source of truth).
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
from profiler.store import read_json

SWEEP = "sweep.json"
LEG_ORDER = ("on", "off")


def is_sweep_dir(path: Path) -> bool:
    return (Path(path) / SWEEP).is_file()


def point_record(
    p: LoadPoint, mode: str, max_concurrency: int | None, saturation: str | None
) -> dict[str, Any]:
    """The sweep.json entry of one point (a readable copy of the run's key numbers)."""
    rec: dict[str, Any] = {
        "load": p.load,
        "concurrency": int(p.load) if mode == "concurrency" else max_concurrency,
        "request_rate": math.inf if mode == "concurrency" else p.load,
        "run": p.run,
        "runs": p.runs,
        "status": p.status,
        "qps": p.qps,
        "output_tps": p.output_tps,
        "error_rate": p.error_rate,
        "p99_client_lag_ms": p.lag_p99_ms,
        "saturation": saturation,
    }
    for m in DEFAULT_METRICS:
        rec[m.summary_key] = p.value(m)
    return rec


@dataclass
class LegData:
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
    raw: dict[str, Any]
    legs: dict[str, LegData]

    @property
    def mode(self) -> str:
        return str(self.raw.get("mode", "concurrency"))

    @property
    def model(self) -> str:
        return str(self.raw.get("model") or "")

    @property
    def aa(self) -> bool:
        return bool(self.raw.get("aa"))

    def slos(self, max_error_rate: float | None = None) -> Slos:
        rate = self.raw.get("max_error_rate", 0.01) if max_error_rate is None else max_error_rate
        return Slos.from_dict(self.raw.get("slos"), float(rate))


def read_sweep(path: Path) -> SweepData:
    """Read a sweep directory; every point comes back from its run directory."""
    path = Path(path)
    if not is_sweep_dir(path):
        raise UserError(f"{path} is not a sweep directory (no {SWEEP}); run `tee-llm-prof sweep` first")
    raw = read_json(path / SWEEP)
    closed = raw.get("mode", "concurrency") == "concurrency"
    legs: dict[str, LegData] = {}
    for label, leg in (raw.get("legs") or {}).items():
        points: list[LoadPoint] = []
        incomplete: list[LoadPoint] = []
        for rec in leg.get("points", []):
            runs = [r for r in (rec.get("runs") or [rec.get("run")]) if r and (path / r).is_dir()]
            if not runs:
                continue  # a point whose run never started (interrupted before it)
            load = float(rec["load"])
            parts = [point_from_run(path / r, load, closed_loop=closed, rel_to=path) for r in runs]
            point = combine(parts)
            if point.status == "complete":  # a run cut short is kept on disk, never planned on
                points.append(point)
            else:
                incomplete.append(point)
        sat = leg.get("saturation") or {}
        legs[label] = LegData(
            label=label,
            points=points,
            saturation=Saturation(bool(sat.get("saturated")), sat.get("index"), sat.get("reason")),
            base_url=leg.get("base_url"),
            served_model=leg.get("served_model"),
            engine=dict(leg.get("engine") or {}),
            incomplete=incomplete,
        )
    return SweepData(path=path, raw=raw, legs=legs)
