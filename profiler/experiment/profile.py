"""A profile: the same seeded workload on every leg, at every load point, in blocks; then one
comparison per load point (DESIGN §4).

Load points are the workload's request rates (``rate=inf``, ``rate=4``); blocks are its
``repeats``. Within a block every leg gets identical prompts, lengths and arrival times; each
block has its own seed, so blocks are not copies of each other. In an A/A profile one server
sees each prompt once per leg: engines launched here run without prefix caching so a later leg
gains nothing from an earlier one; an external server used A/A should do the same (vLLM:
``--no-enable-prefix-caching``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from profiler.config import WorkloadSpec
from profiler.experiment.designs import DESIGNS
from profiler.experiment.engine import Executor, Experiment, Point, RunTask
from profiler.experiment.index import IndexWriter
from profiler.experiment.legs import TEE_OFF, TEE_ON, Leg
from profiler.experiment.request import ClientOptions, RunRequest, execute
from profiler.results.index import DesignEntry, PointEntry

COMPARE = "compare"


def point_name(rate: float) -> str:
    return "rate=inf" if math.isinf(rate) else f"rate={rate:g}"


def profile_points(workload: WorkloadSpec) -> list[Point]:
    """One point per request rate; its workload sends at that rate, once per block."""
    return [
        Point(point_name(r), workload.model_copy(update={"request_rates": [r], "repeats": 1}), r)
        for r in workload.request_rates
    ]


def llm_executor(model_key: str | None, client: ClientOptions | None = None) -> Executor:
    """The executor of LLM experiments: one :class:`RunRequest` per task."""
    options = client or ClientOptions()

    def run(task: RunTask) -> Path:
        return execute(
            RunRequest(
                out=task.runs_dir,
                leg=task.leg,
                workload=task.workload,
                request_rate=task.point.request_rate,
                model_key=model_key,
                experiment=task.experiment,
                client=options,
                on_start=task.on_start,
            )
        )

    return run


def create_profile(
    out: Path,
    profile_id: str,
    *,
    model: str,
    legs: Sequence[Leg],
    workload: WorkloadSpec,
    design: str = "abba",
) -> IndexWriter:
    """``<out>/<profile_id>/profile.json`` listing every load point (no run yet)."""
    d = DESIGNS.get(design)
    return IndexWriter.create(
        out,
        "profile",
        profile_id,
        legs=legs,
        model=model,
        baseline=TEE_OFF if TEE_OFF in {leg.name for leg in legs} else legs[-1].name,
        design=DesignEntry(name=d.name, description=f"{d.description}, per load point"),
        workload=workload.model_dump(mode="json"),
        points=[
            PointEntry(name=p.name, request_rate=p.request_rate, concurrency=workload.concurrency)
            for p in profile_points(workload)
        ],
    )


def run_profile(
    writer: IndexWriter,
    legs: Sequence[Leg],
    workload: WorkloadSpec,
    executor: Executor,
    *,
    console: Console | None = None,
) -> None:
    Experiment(
        writer,
        legs,
        profile_points(workload),
        executor,
        blocks=workload.repeats,
        design=writer.index.design.name,
        console=console or Console(stderr=True),
    ).run()


def compare_points(writer: IndexWriter, *, console: Console | None = None) -> list[Path]:
    """One comparison per load point where the TEE leg and its baseline both have runs."""
    from profiler.analysis.compare import compare_runs  # numpy/scipy work loads only when needed

    index = writer.index
    base = index.baseline or TEE_OFF
    tee = next((name for name in index.legs if name != base), TEE_ON)
    written = []
    for point in index.load_points:
        on, off = point.runs.get(tee) or [], point.runs.get(base) or []
        if not on or not off:
            continue
        out = writer.root / COMPARE / point.name
        out.mkdir(parents=True, exist_ok=True)
        compare_runs([writer.root / r for r in on], [writer.root / r for r in off], out, aa=index.aa)
        writer.set_comparison(point.name, out)
        written.append(out)
    return written
