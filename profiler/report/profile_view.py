"""The report of a profile directory (profile.json): one headline per load point, a table of
load points against overheads, the runs, the engine, then each load point's comparison in full.
"""

from __future__ import annotations

from pathlib import Path

from profiler.report.comparison_view import comparison_sections
from profiler.report.environment import environment_table
from profiler.report.legs_view import point_sections
from profiler.report.load_curve_view import load_curve_sections
from profiler.report.model import Options, Paragraph, Report, Section, Table
from profiler.report.text import ci, find_metric, headline_groups, num, pct
from profiler.results.comparison import Comparison, MetricRow
from profiler.results.index import ExperimentIndex, PointEntry, ProfileIndex
from profiler.store import COMPARISON, PROFILE, read_run


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text).strip("_") or "point"


def comparison_of(
    profile_dir: Path, point: PointEntry, rel: str | None = None
) -> tuple[Comparison, Path] | None:
    rel = rel or point.comparison
    if not rel:
        return None
    cdir = profile_dir / rel
    if cdir.is_file():
        cdir = cdir.parent
    if not (cdir / COMPARISON).is_file():
        return None
    return Comparison.load(cdir / COMPARISON), cdir


def overview_cell(metrics: list[MetricRow], keys: list[str]) -> str:
    row = find_metric(metrics, *keys)
    if row is None:
        return "—"
    mark = "*" if row.significant else ""
    return f"{pct(row.overhead_pct)}{mark} [{ci(row.ci_low, row.ci_high)}]"


#: The latency and throughput columns of the per-run table: (title, summary key, digits).
RUN_COLUMNS = (
    ("TTFT", "mean_ttft_ms", 1),
    ("TPOT", "mean_tpot_ms", 2),
    ("ITL", "mean_itl_ms", 2),
    ("p99 ITL", "p99_itl_ms", 2),
    ("E2EL", "mean_e2el_ms", 1),
    ("tok/s", "output_throughput", 1),
    ("req/s", "request_throughput", 2),
)


def runs_table(index: ExperimentIndex, root: Path) -> Table:
    """One row per run of an experiment: what each leg measured (latencies in ms)."""
    rows: list[list[str]] = []
    incomplete = False
    for point in index.load_points:
        for leg, rels in point.runs.items():
            for block, rel in enumerate(rels):
                run = read_run(root / rel)
                s = run.llm
                mark = "" if run.complete else "*"
                incomplete |= not run.complete
                rows.append(
                    [
                        point.name,
                        leg,
                        f"{block + 1}{mark}",
                        f"{s.completed}/{s.failed}",
                        *(_fixed(s.value(key), digits) for _, key, digits in RUN_COLUMNS),
                    ]
                )
    return Table(
        f"Per-run summary: {index.model} (latencies in ms)",
        ["point", "leg", "block", "ok/fail", *(title for title, _, _ in RUN_COLUMNS)],
        rows,
        note="* incomplete run (stopped early; see its manifest.json reason)" if incomplete else "",
        align=["l", "l", *["r"] * (len(RUN_COLUMNS) + 2)],
    )


def _fixed(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def legs_table(prof: ProfileIndex) -> Table:
    """Every leg: its endpoint and the TEE evidence its runs carry, with any contradiction."""
    from profiler.analysis.evidence import conflicts

    rows = []
    for name, leg in prof.legs.items():
        ev = leg.evidence
        said = "; ".join(conflicts(name, ev)) if not prof.aa else ""
        rows.append([
            name + (" (baseline)" if name == prof.baseline else ""),
            leg.base_url or "—",
            ev.describe() if ev else "none (a remote leg: give --leg-evidence NAME=FILE)",
            f"⚠ evidence {said}" if said else "no contradiction" if ev else "",
        ])
    return Table(
        "Legs and their TEE evidence",
        ["leg", "endpoint", "TEE evidence (validate)", "check"],
        rows,
        note="Evidence: `tee-llm-prof validate` on the leg's host (run here for a leg on this host).",
    )


def load_curve_of(
    path: Path, prof: ProfileIndex, compared: list[tuple[PointEntry, Comparison, Path]]
) -> list[Section]:
    """The load-curve view over the profile's comparisons (their rows; nothing compared again)."""
    from profiler.analysis.load_curve import LoadKey, curve_from_comparisons

    found = [(p.name, LoadKey(p.request_rate, p.concurrency), cmp, cdir) for p, cmp, cdir in compared]
    curve = curve_from_comparisons(found, path, source="profile", model=prof.model, aa=prof.aa)
    return load_curve_sections(curve, prefix="load_")


def build(path: Path, out_dir: Path | None = None, opts: Options | None = None) -> Report:
    path = Path(path)
    prof = ProfileIndex.load(path / PROFILE)
    model = prof.model or "model"
    aa = prof.aa
    points = prof.load_points
    title = f"Profile {prof.id}: {model}" + (" (A/A calibration)" if aa else "")
    report = Report(kind="profile", title=title, source=path, out_dir=Path(out_dir or path), calibration=aa)
    if prof.status != "complete":
        report.headline.append(
            f"Profile status: {prof.status}"
            + (f" ({prof.reason})" if prof.reason else "")
            + " — results below cover what was measured."
        )
    if aa:
        report.headline.append(
            "This profile is an A/A calibration: one endpoint served both legs, so "
            "every 'overhead' below is measurement noise, not a TEE cost."
        )
    groups = headline_groups()
    legs = list(prof.legs)
    several = len(legs) > 2
    rows: list[list[str]] = []
    details: list[tuple[str, list[Section]]] = []
    compared: list[tuple[PointEntry, Comparison, Path]] = []
    for point in points:
        counts = " / ".join(str(len(point.runs.get(leg, []))) for leg in legs)
        pairs = point.comparisons or ({"on-vs-off": point.comparison} if point.comparison else {})
        lead = [point.name, num(point.request_rate), num(point.concurrency), counts]
        found = [(name, comparison_of(path, point, rel)) for name, rel in pairs.items()]
        if not any(f for _, f in found):
            rows.append([*lead, *([""] if several else []), *["—"] * len(groups)])
            report.headline.append(f"{point.name}: no comparison (runs {' / '.join(legs)}: {counts}).")
            continue
        for name, item in found:
            if item is None:
                continue
            cmp, cdir = item
            if not any(p is point for p, _, _ in compared):
                compared.append((point, cmp, cdir))  # the point's primary pair draws the load curve
            rows.append(
                [
                    *lead,
                    *([name] if several else []),
                    *[overview_cell(cmp.metrics, keys) for _, keys, _ in groups],
                ]
            )
            leg_runs = {
                "on": [path / r for r in point.runs.get(cmp.leg or "on", [])],
                "off": [path / r for r in point.runs.get(cmp.reference or "off", [])],
            }
            named = f"{point.name}_{name}" if several else point.name  # the pair only when there are several
            prefix = slug(named) + "_" if len(points) > 1 or several else ""
            line, sections = comparison_sections(cmp, cdir, prefix, opts, leg_runs)
            where = f"{point.name} · {name}" if several else point.name
            report.headline.append(f"{where} — {line}")
            details.append((where, sections))
        extra = point_sections(path, point, prefix=slug(point.name) + "_")
        if extra:
            details.append((point.name, extra))

    if rows:
        report.sections.append(
            Section("Load points").add(
                Table(
                    "Overhead per load point",
                    [
                        "load point",
                        "request rate (req/s)",
                        "concurrency",
                        f"runs {' / '.join(legs)}",
                        *(["comparison"] if several else []),
                        *[noun for noun, _, _ in groups],
                    ],
                    rows,
                    note="Overhead % [95% CI]; * = significant (CI excludes 0). Positive = the TEE costs.",
                )
            )
        )
    else:
        report.sections.append(Section("Load points").add(Paragraph("This profile has no load points yet.")))
    if len(compared) > 1:
        report.sections.extend(load_curve_of(path, prof, compared))
    if any(p.runs for p in points):
        report.sections.append(Section("Runs", console=False).add(runs_table(prof, path)))
    setup = Section("Engine and workload")
    setup.add(legs_table(prof))
    engines = {name: leg.engine for name, leg in prof.legs.items() if leg.engine}
    if aa and engines:
        setup.add(environment_table({"engine": next(iter(engines.values()))}, title="Engine (every leg)"))
    elif engines:
        setup.add(environment_table(engines, title="Engine of each leg"))
    if prof.workload:
        setup.add(environment_table({"workload": prof.workload}, title="Workload (identical on every leg)"))
    setup.add(Paragraph(f"Run order: {prof.design.description}."))
    for block in setup.blocks:
        if isinstance(block, Table) and len(block.columns) == 2:
            block.columns = ["item", "value"]
    report.sections.append(setup)
    for name, sections in details:
        for sec in sections:
            if len(details) > 1:
                sec.heading = f"{name} · {sec.heading}"
            report.sections.append(sec)
    return report
