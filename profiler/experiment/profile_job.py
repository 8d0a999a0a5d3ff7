"""The profile as a job: everything resolved and checked first, then legs, runs, comparisons,
report. ``tee-llm-prof profile``, ``suite llm`` and the service's job runner all run this.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from catalog.metrics import compared
from profiler.analysis.evidence import contradictions
from profiler.cluster.options import cluster_options
from profiler.config import ModelEntry, WorkloadSpec, check_leg_name, get_model
from profiler.controls.proxy import Cost, parse_cost
from profiler.errors import UserError
from profiler.experiment.evidence import parse_evidence_args, with_evidence
from profiler.experiment.legs import (
    AA_NOTE,
    TEE_OFF,
    TEE_ON,
    Leg,
    is_aa,
    parse_leg_args,
    plan_legs,
    resolve_legs,
)
from profiler.experiment.precision import HEADLINE_METRICS, TargetPrecision
from profiler.experiment.preflight import check_legs, check_writable
from profiler.experiment.profile import (
    compare_points,
    create_profile,
    default_baseline,
    llm_executor,
    run_profile,
)
from profiler.experiment.request import ClientOptions
from profiler.experiment.signals import interruption_reason, sigterm_as_interrupt
from profiler.flags import overrides, resolve_workload
from profiler.results.evidence import LegEvidence
from profiler.results.index import ExperimentIndex, ProfileIndex
from profiler.results.run import STATUS_COMPLETE, STATUS_INCOMPLETE
from profiler.store import new_run_id


def single_component(name: str, what: str) -> str:
    """``name`` if it is one path component (no ``/``, ``..``, or leading dot)."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith(".") or "\0" in name:
        raise UserError(f"{what} must be a plain name (one path component), got {name!r}")
    return name


@dataclass(frozen=True)
class Injection:
    name: str  # the new leg
    leg: str  # the leg it reaches through the proxy
    cost: Cost


def parse_injections(items: Sequence[str]) -> list[Injection]:
    out = []
    for item in items:
        name, sep, rest = item.partition("=")
        leg, sep2, cost = rest.partition(":")
        if not sep or not sep2:
            raise UserError(
                f"--inject expects NAME=LEG:COST (e.g. injected=off:per_event_us=800), got {item!r}"
            )
        try:
            out.append(Injection(check_leg_name(name), check_leg_name(leg), parse_cost(cost)))
        except ValueError as exc:
            raise UserError(f"--inject {item}: {exc}") from None
    return out


@dataclass(frozen=True)
class Precision:
    target_pct: float
    metrics: tuple[str, ...]
    budget_s: float | None
    pilot: int
    max_blocks: int


def _precision(args: argparse.Namespace, n_points: int) -> Precision | None:
    if args.target_ci is None:
        for flag, value in (("--budget", args.budget), ("--target-metrics", args.target_metrics)):
            if value is not None:
                raise UserError(f"{flag} only applies with --target-ci PCT")
        return None
    if not args.target_ci > 0:
        raise UserError("--target-ci must be a positive number of points, e.g. 2")
    known = {m.summary_key(s) for m in compared() for s in m.compared_stats}
    metrics = tuple(
        k.strip() for k in (args.target_metrics or ",".join(HEADLINE_METRICS)).split(",") if k.strip()
    )
    for key in metrics:
        if key not in known:
            raise UserError(
                f"--target-metrics: {key!r} is not a compared metric; e.g. {', '.join(HEADLINE_METRICS)}"
            )
    if args.pilot_blocks < 2:
        raise UserError("--pilot-blocks must be at least 2 (a spread needs two blocks)")
    if args.max_blocks < args.pilot_blocks:
        raise UserError("--max-blocks must be at least --pilot-blocks")
    if args.budget is not None and not args.budget > 0:
        raise UserError("--budget must be a positive number of seconds")
    per_point = args.budget / n_points if args.budget is not None else None
    return Precision(args.target_ci, metrics, per_point, args.pilot_blocks, args.max_blocks)


@dataclass(frozen=True)
class ProfileJob:
    model: str
    entry: ModelEntry
    workload: WorkloadSpec
    out: Path
    profile_id: str
    tee_on: str | None = None
    tee_off: str | None = None
    port: int | None = None
    report: bool = True
    named: dict[str, str] = field(default_factory=dict)
    baseline: str | None = None
    chain: tuple[str, ...] | None = None
    at_once: bool = False
    injections: tuple[Injection, ...] = ()
    precision: Precision | None = None
    evidence: dict[str, LegEvidence] = field(default_factory=dict)
    allow_mismatch: bool = False
    client: ClientOptions = field(default_factory=ClientOptions)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ProfileJob:
        """Resolve and check every option before anything starts (strict at load time)."""
        entry = get_model(args.model, args.models)
        workload = resolve_workload(entry.workload, overrides(args))
        profile_id = (
            single_component(args.profile_id, "--profile-id")
            if args.profile_id
            else new_run_id("profile", args.model)
        )
        out = check_writable(Path(args.out))
        if (out / profile_id / ProfileIndex.FILE).exists():
            raise UserError(
                f"{out / profile_id} already holds a profile; choose another --profile-id or --out"
            )
        named = parse_leg_args(getattr(args, "leg", []) or [])
        injections = tuple(parse_injections(getattr(args, "inject", []) or []))
        planned = plan_legs(entry, args.tee_on, args.tee_off, named) or {TEE_ON: "", TEE_OFF: ""}
        names = [*planned, *(i.name for i in injections)]
        for inj in injections:
            if inj.leg not in planned:
                raise UserError(
                    f"--inject {inj.name}: no leg {inj.leg!r} to put the proxy in front of "
                    f"(legs: {', '.join(planned)})"
                )
        if len(set(names)) != len(names):
            raise UserError(f"every leg needs its own name; got {', '.join(names)}")
        baseline = getattr(args, "baseline", None)
        if baseline is not None and baseline not in names:
            raise UserError(f"--baseline {baseline}: not a leg ({', '.join(names)})")
        chain = None
        if getattr(args, "chain", None):
            chain = tuple(c.strip() for c in args.chain.split(",") if c.strip())
            missing = [c for c in chain if c not in names]
            if len(chain) < 2 or missing or len(set(chain)) != len(chain):
                raise UserError(f"--chain {args.chain}: give two or more distinct legs of {', '.join(names)}")
        at_once = bool(getattr(args, "legs_at_once", False))
        if at_once:
            urls = [u.rstrip("/") for u in planned.values()]
            if injections or len(set(urls)) < len(urls) or not all(urls):
                raise UserError(
                    "--legs-at-once needs every leg on its own server: here legs share one, and "
                    "running them at once would double that server's load"
                )
        precision = _precision(args, len(workload.request_rates))
        evidence = parse_evidence_args(getattr(args, "leg_evidence", []) or [])
        workers = int(getattr(args, "workers", 1) or 1)
        if workers < 1:
            raise UserError("--workers must be >= 1")
        client = ClientOptions(workers=workers, cluster=cluster_options(args))
        unknown = sorted(set(evidence) - set(planned))
        if unknown:
            raise UserError(f"--leg-evidence {', '.join(unknown)}: no such leg ({', '.join(planned)})")
        return cls(
            args.model,
            entry,
            workload,
            out,
            profile_id,
            args.tee_on,
            args.tee_off,
            args.port,
            not args.no_report,
            named,
            baseline,
            chain,
            at_once,
            injections,
            precision,
            evidence,
            bool(getattr(args, "allow_model_mismatch", False)),
            client,
        )


@contextlib.contextmanager
def _with_controls(legs: list[Leg], injections: Sequence[Injection], log_dir: Path) -> Iterator[list[Leg]]:
    """The legs plus one proxied leg per injection (proxies stopped when the block ends)."""
    from profiler.controls.launch import injected_leg

    with contextlib.ExitStack() as stack:
        out = list(legs)
        for inj in injections:
            base = next(leg for leg in legs if leg.name == inj.leg)
            log_dir.mkdir(parents=True, exist_ok=True)
            out.append(
                stack.enter_context(
                    injected_leg(base, inj.name, inj.cost, log_dir / f"proxy-{inj.name}.jsonl")
                )
            )
        yield out


def run_job(job: ProfileJob) -> int:
    from profiler.report import show
    from profiler.report.profile_view import runs_table

    out_console = Console()
    console = Console(stderr=True)
    root = job.out / job.profile_id
    writer = None
    with sigterm_as_interrupt():
        try:
            with contextlib.ExitStack() as stack:
                found = stack.enter_context(
                    resolve_legs(job.entry, job.tee_on, job.tee_off, named=job.named, key=job.model,
                                 port=job.port, log_dir=root / "engine", console=console)
                )  # fmt: skip
                for line in check_legs(found, allow_mismatch=job.allow_mismatch):
                    console.print(f"[yellow]warning: {line}[/]")
                resolved = with_evidence(found, job.evidence)
                legs = stack.enter_context(_with_controls(resolved, job.injections, root / "engine"))
                if len(legs) > 1 and is_aa(legs):  # as the index says it (an injected leg differs)
                    console.print(f"[yellow]{AA_NOTE}[/]")
                else:
                    for leg in resolved:
                        for line in contradictions(leg.name, leg.evidence):
                            console.print(f"[yellow]warning: {line}[/]")
                writer = create_profile(
                    job.out,
                    job.profile_id,
                    model=job.model,
                    legs=legs,
                    workload=job.workload,
                    baseline=job.baseline,
                    chain=job.chain,
                )
                run_profile(
                    writer,
                    legs,
                    job.workload,
                    llm_executor(job.model, job.client),
                    console=console,
                    precision=_target(job, legs, console),
                    at_once=job.at_once,
                )
        except KeyboardInterrupt as exc:
            if writer is not None:
                show(out_console, runs_table(writer.index, writer.root))
                print_paths(writer.index, writer.root)
                console.print(
                    f"{interruption_reason(exc).split(';')[0]}: runs so far kept in {writer.root} "
                    "(incomplete)"
                )
            raise
    # The engine is stopped: analysis and reports never compete with a server for the CPU.
    assert writer is not None
    show(out_console, runs_table(writer.index, writer.root))
    try:
        compare_points(writer, console=console)
    except BaseException as exc:  # the runs stay; the profile says why it has no comparison
        writer.finish(STATUS_INCOMPLETE, f"comparison failed: {interruption_reason(exc)}")
        raise
    writer.finish(STATUS_COMPLETE)
    if writer.index.aa:
        out_console.print(AA_NOTE)
    code = 0
    if job.report:
        try:
            _report(writer.root, out_console)
        except Exception as exc:  # the measurements are complete; only a view of them failed
            console.print(
                f"error: the report failed ({type(exc).__name__}: {exc}); "
                f"retry with: tee-llm-prof report {writer.root}"
            )
            code = 1
    print_paths(writer.index, writer.root)
    return code


def _target(job: ProfileJob, legs: Sequence[Leg], console: Console) -> TargetPrecision | None:
    p = job.precision
    if p is None:
        return None
    base = job.baseline or default_baseline(legs)
    pairs = [(leg.name, base) for leg in legs if leg.name != base]
    return TargetPrecision(p.target_pct, p.metrics, p.pilot, p.budget_s, p.max_blocks, pairs, console)


def _report(profile_dir: Path, console: Console) -> None:
    from profiler.report import render  # matplotlib loads only when a report is drawn

    files = render(profile_dir, console=console)
    if files:
        console.print(f"reports: {', '.join(str(f) for f in files if f.suffix in ('.md', '.html'))}")


def print_paths(index: ExperimentIndex, root: Path) -> None:
    """Plain lines (no wrapping): where every result is, for people and scripts."""
    print(f"profile: {root}")
    for point in index.load_points:
        for leg, rels in point.runs.items():
            for rel in rels:
                print(f"  run {leg:3} {point.name}: {root / rel}")
        for name, rel in point.comparisons.items():
            print(f"  comparison {point.name} {name}: {root / rel}")
    sys.stdout.flush()
