"""A profile: the same seeded workload on every leg, at every load point, in blocks; then the
comparisons of every leg against its baseline (and along a chain), per load point (DESIGN §4).

Load points are the workload's request rates (``rate=inf``, ``rate=4``); blocks are its
``repeats`` (or as many as a target precision needs). Within a block every leg gets identical
prompts, lengths and arrival times; each block has its own seed. Two legs run in ABBA order,
more in a Williams design. In an A/A profile one server sees each prompt once per leg: engines
launched here run without prefix caching so a later leg gains nothing from an earlier one; an
external server used A/A should do the same (vLLM: ``--no-enable-prefix-caching``).

Comparison directories: ``compare/<point>/`` for two legs (as always), ``compare/<point>/<leg>-
vs-<reference>/`` for more, and ``compare/<point>/decomposition.json`` for a chain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from profiler.analysis.power import TARGETS
from profiler.config import WorkloadSpec
from profiler.experiment.designs import DESIGNS
from profiler.experiment.engine import Executor, Experiment, Point, Rules, RunTask
from profiler.experiment.index import IndexWriter
from profiler.experiment.legs import TEE_OFF, Leg, is_aa
from profiler.experiment.precision import TargetPrecision
from profiler.experiment.request import ClientOptions, RunRequest, execute
from profiler.results.index import DesignEntry, ExperimentIndex, PointEntry

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
                stop=task.stop,
            )
        )

    return run


def default_baseline(legs: Sequence[Leg]) -> str:
    """``off`` when there is one (the two-leg shorthand), else the first leg named."""
    names = [leg.name for leg in legs]
    return TEE_OFF if TEE_OFF in names else names[0]


def create_profile(
    out: Path,
    profile_id: str,
    *,
    model: str,
    legs: Sequence[Leg],
    workload: WorkloadSpec,
    baseline: str | None = None,
    chain: Sequence[str] | None = None,
) -> IndexWriter:
    """``<out>/<profile_id>/profile.json`` listing every load point (no run yet)."""
    names = [leg.name for leg in legs]
    base = baseline or default_baseline(legs)
    if base not in names:
        raise ValueError(f"the baseline {base!r} is not a leg ({', '.join(names)})")
    d = DESIGNS.get("abba" if len(legs) <= 2 else "williams")
    return IndexWriter.create(
        out,
        "profile",
        profile_id,
        legs=legs,
        model=model,
        baseline=base,
        design=DesignEntry(
            name=d.name, description=f"{d.description}, blocks counted over the whole profile"
        ),
        workload=workload.model_dump(mode="json"),
        points=[
            PointEntry(name=p.name, request_rate=p.request_rate, concurrency=workload.concurrency)
            for p in profile_points(workload)
        ],
        chain=list(chain) if chain else None,
    )


def run_profile(
    writer: IndexWriter,
    legs: Sequence[Leg],
    workload: WorkloadSpec,
    executor: Executor,
    *,
    console: Console | None = None,
    precision: TargetPrecision | None = None,
    at_once: bool = False,
) -> None:
    """Every point in blocks; with ``precision``, each point's blocks continue until its
    target (or budget), and the outcome is recorded on the point."""
    rules = Rules(enough=precision.enough) if precision is not None else Rules()
    blocks = precision.max_blocks if precision is not None else workload.repeats
    try:
        Experiment(
            writer,
            legs,
            profile_points(workload),
            executor,
            blocks=blocks,
            design=writer.index.design.name,
            rules=rules,
            console=console or Console(stderr=True),
            at_once=at_once,
        ).run()
    finally:
        if precision is not None:
            for name, entry in precision.entries.items():
                writer.index.point(name).precision = entry
            writer.save()


def comparison_pairs(index: ExperimentIndex) -> list[tuple[str, str]]:
    """(leg, reference) of every comparison: each leg against the baseline, then the chain's
    successive increments (b against a, c against b)."""
    base = index.baseline or TEE_OFF
    pairs = [(leg, base) for leg in index.legs if leg != base]
    for a, b in zip(index.chain or [], (index.chain or [])[1:], strict=False):
        if (b, a) not in pairs:
            pairs.append((b, a))
    return pairs


def pair_name(leg: str, reference: str) -> str:
    return f"{leg}-vs-{reference}"


def compare_points(writer: IndexWriter, *, console: Console | None = None) -> list[Path]:
    """Every comparison of every load point, and a chain's decomposition; recorded in the index."""
    from profiler.analysis.compare import compare_runs  # numpy/scipy work loads only when needed

    index = writer.index
    pairs = comparison_pairs(index)
    written = []
    for point in index.load_points:
        pilot = point.precision.pilot_blocks if point.precision else None
        targets = sorted({*TARGETS, *([point.precision.target_pct] if point.precision else [])})
        for k, (leg, ref) in enumerate(pairs):
            a, b = point.runs.get(leg) or [], point.runs.get(ref) or []
            if not a or not b:
                continue
            out = writer.root / COMPARE / point.name
            if len(pairs) > 1:  # k legs, or two legs compared both ways (--chain against the baseline)
                out = out / pair_name(leg, ref)
            out.mkdir(parents=True, exist_ok=True)
            same = is_aa([_leg_of(index, leg), _leg_of(index, ref)])
            compare_runs(
                [writer.root / r for r in a],
                [writer.root / r for r in b],
                out,
                aa=same,
                pilot=pilot,
                targets=targets,
                names=(leg, ref),
            )
            writer.set_comparison(point.name, out, pair_name(leg, ref), primary=k == 0)
            written.append(out)
        if index.chain and len(index.chain) >= 3:
            from profiler.analysis.decomposition import decompose

            path = writer.root / COMPARE / point.name / "decomposition.json"
            runs = {leg: [writer.root / r for r in point.runs.get(leg, [])] for leg in index.chain}
            decompose(runs, index.chain, pilot=pilot).save(path)
            point.decomposition = str(path.relative_to(writer.root))
            writer.save()
    _save_load_curve(writer)
    return written


def _save_load_curve(writer: IndexWriter) -> None:
    """``compare/load_curve.json`` over the points' primary comparisons, when there are two or more."""
    from profiler.analysis.load_curve import LoadKey, curve_from_comparisons
    from profiler.results.comparison import Comparison
    from profiler.results.load_curve import LoadCurve

    index = writer.index
    dirs = [(p, writer.root / p.comparison) for p in index.load_points if p.comparison]
    found = [
        (p.name, LoadKey(p.request_rate, p.concurrency), Comparison.load(d / Comparison.FILE), d)
        for p, d in dirs
        if (d / Comparison.FILE).is_file()
    ]
    if len(found) < 2:
        return
    out = writer.root / COMPARE
    curve = curve_from_comparisons(found, out, source="profile", model=index.model, aa=index.aa)
    curve.save(out / LoadCurve.FILE)


def _leg_of(index: ExperimentIndex, name: str) -> Leg:
    entry = index.legs[name]
    return Leg(name, entry.base_url or "", entry.served_model or "")
