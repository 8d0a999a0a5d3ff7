"""The report of a suite run (cpu, io, net, zk, gpu): each measurement's mean ± std over its
repetitions, what ran, warnings and the environment."""

from __future__ import annotations

from pathlib import Path

from profiler.report.environment import environment_blocks
from profiler.report.model import Options, Paragraph, Report, Section, Table, Warnings
from profiler.report.run_view import facts_table, run_warnings
from profiler.report.text import num
from profiler.results.run import SuiteSummary
from profiler.store import Run, read_run


def suite_table(run: Run) -> Table:
    """Mean (± std over repetitions) of every metric and case, so a run is readable as is."""
    s = run.summary if isinstance(run.summary, SuiteSummary) else SuiteSummary(repeats=0)
    rows = [
        [m.metric, m.case, num(m.mean, 4), "" if m.std is None else num(m.std, 3), m.unit, str(m.n)]
        for m in s.metrics
    ]
    return Table(
        f"{run.manifest.kind} suite, leg {run.label} ({s.repeats} repetition(s), {run.manifest.status})",
        ["metric", "case", "mean", "± std", "unit", "n"],
        rows,
        align=["l", "l", "r", "r", "l", "r"],
    )


def build(path: Path, out_dir: Path | None = None, opts: Options | None = None) -> Report:
    run = read_run(path)
    m = run.manifest
    report = Report(
        kind="run",
        title=f"Suite run {run.run_id}",
        source=Path(path),
        out_dir=Path(out_dir or path),
        headline=[f"{m.kind} suite, leg {run.label}: {m.status}" + (f" ({m.reason})" if m.reason else "")],
    )
    report.sections.append(Section("What ran").add(facts_table(m)))
    report.sections.append(
        Section("Results").add(
            suite_table(run) if run.summary is not None else Paragraph("No summary.json (yet).")
        )
    )
    warns = [w for w in run_warnings(run, None) if w.code == "incomplete"]
    report.sections.append(Section("Data-quality warnings").add(Warnings(warns)))
    report.sections.append(
        Section("Environment").add(
            *environment_blocks({run.label: m.environment}, {run.label: m.model_dump(mode="json")})
        )
    )
    return report
