"""The profile as a job: everything resolved and checked first, then legs, runs, comparisons,
report. ``tee-llm-prof profile``, ``suite llm`` and the service's job runner all run this.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from profiler.config import ModelEntry, WorkloadSpec, get_model
from profiler.errors import UserError
from profiler.experiment.legs import AA_NOTE, is_aa, resolve_legs
from profiler.experiment.profile import compare_points, create_profile, llm_executor, run_profile
from profiler.experiment.signals import interruption_reason, sigterm_as_interrupt
from profiler.flags import overrides, resolve_workload
from profiler.results.index import ProfileIndex
from profiler.results.run import STATUS_COMPLETE, STATUS_INCOMPLETE
from profiler.store import new_run_id


def single_component(name: str, what: str) -> str:
    """``name`` if it is one path component (no ``/``, ``..``, or leading dot)."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith(".") or "\0" in name:
        raise UserError(f"{what} must be a plain name (one path component), got {name!r}")
    return name


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
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out} is a file, not a directory")
        if (out / profile_id / ProfileIndex.FILE).exists():
            raise UserError(
                f"{out / profile_id} already holds a profile; choose another --profile-id or --out"
            )
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
        )


def run_job(job: ProfileJob) -> int:
    from profiler.report import show
    from profiler.report.profile_view import runs_table

    out_console = Console()
    console = Console(stderr=True)
    root = job.out / job.profile_id
    writer = None
    with sigterm_as_interrupt():
        try:
            with resolve_legs(
                job.entry,
                job.tee_on,
                job.tee_off,
                key=job.model,
                port=job.port,
                log_dir=root / "engine",
                console=console,
            ) as legs:
                if is_aa(legs):
                    console.print(f"[yellow]{AA_NOTE}[/]")
                writer = create_profile(
                    job.out, job.profile_id, model=job.model, legs=legs, workload=job.workload
                )
                run_profile(writer, legs, job.workload, llm_executor(job.model), console=console)
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


def _report(profile_dir: Path, console: Console) -> None:
    from profiler.report import render  # matplotlib loads only when a report is drawn

    files = render(profile_dir, console=console)
    if files:
        console.print(f"reports: {', '.join(str(f) for f in files if f.suffix in ('.md', '.html'))}")


def print_paths(index: ProfileIndex | object, root: Path) -> None:
    """Plain lines (no wrapping): where every result is, for people and scripts."""
    assert isinstance(index, ProfileIndex)
    print(f"profile: {root}")
    for point in index.load_points:
        for leg, rels in point.runs.items():
            for rel in rels:
                print(f"  run {leg:3} {point.name}: {root / rel}")
        if point.comparison:
            print(f"  comparison {point.name}: {root / point.comparison}")
    sys.stdout.flush()
