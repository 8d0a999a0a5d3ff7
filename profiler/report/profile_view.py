"""The report of a profile directory (profile.json): one headline per load point, a table of
load points against overheads, the engine, then each load point's comparison in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from profiler.report.comparison_view import comparison_sections
from profiler.report.environment import environment_table
from profiler.report.model import Options, Paragraph, Report, Section, Table
from profiler.report.text import ci, find_metric, num, pct
from profiler.store import COMPARISON, PROFILE, read_json

#: (metric keys in order of preference, column title) for the load-point overview.
OVERVIEW = (
    (("mean_ttft_ms", "median_ttft_ms"), "TTFT"),
    (("mean_tpot_ms", "mean_itl_ms"), "decode time (TPOT)"),
    (("mean_e2el_ms",), "E2E latency"),
    (("output_throughput",), "output tokens/s"),
    (("request_throughput",), "requests/s"),
)


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text).strip("_") or "point"


def comparison_of(profile_dir: Path, point: Mapping[str, Any]) -> tuple[dict[str, Any], Path] | None:
    rel = point.get("comparison")
    if not rel:
        return None
    cdir = profile_dir / rel
    if cdir.is_file():
        cdir = cdir.parent
    if not (cdir / COMPARISON).is_file():
        return None
    return read_json(cdir / COMPARISON), cdir


def overview_cell(metrics: list[Mapping[str, Any]], keys: tuple[str, ...]) -> str:
    row = find_metric(metrics, *keys)
    if row is None:
        return "—"
    mark = "*" if row.get("significant") else ""
    return f"{pct(row.get('overhead_pct'))}{mark} [{ci(row.get('ci_low'), row.get('ci_high'))}]"


def build(path: Path, out_dir: Path | None = None, opts: Options | None = None) -> Report:
    path = Path(path)
    prof = read_json(path / PROFILE)
    model = prof.get("model") or "model"
    aa = bool(prof.get("aa"))
    points = list(prof.get("load_points") or [])
    title = f"Profile {prof.get('profile_id', path.name)}: {model}" + (" (A/A calibration)" if aa else "")
    report = Report(kind="profile", title=title, source=path, out_dir=Path(out_dir or path), calibration=aa)
    if prof.get("status") not in (None, "complete"):
        report.headline.append(
            f"Profile status: {prof.get('status')}"
            + (f" ({prof['reason']})" if prof.get("reason") else "")
            + " — results below cover what was measured."
        )
    if aa:
        report.headline.append(
            "This profile is an A/A calibration: one endpoint served both legs, so "
            "every 'overhead' below is measurement noise, not a TEE cost."
        )

    rows: list[list[str]] = []
    details: list[tuple[str, list[Section]]] = []
    for point in points:
        name = str(point.get("name", "load point"))
        runs = point.get("runs") or {}
        found = comparison_of(path, point)
        counts = f"{len(runs.get('on') or [])} / {len(runs.get('off') or [])}"
        rate = point.get("request_rate")
        if found is None:
            rows.append([name, num(rate), num(point.get("concurrency")), counts, *["—"] * len(OVERVIEW)])
            report.headline.append(f"{name}: no comparison (runs on/off: {counts}).")
            continue
        cmp, cdir = found
        metrics = list(cmp.get("metrics") or [])
        rows.append(
            [
                name,
                num(rate),
                num(point.get("concurrency")),
                counts,
                *[overview_cell(metrics, keys) for keys, _ in OVERVIEW],
            ]
        )
        leg_runs = {leg: [path / r for r in runs.get(leg) or []] for leg in ("on", "off")}
        line, sections = comparison_sections(
            cmp, cdir, f"{slug(name)}_" if len(points) > 1 else "", opts, leg_runs
        )
        report.headline.append(f"{name} — {line}")
        details.append((name, sections))

    if rows:
        report.sections.append(
            Section("Load points").add(
                Table(
                    "Overhead per load point",
                    [
                        "load point",
                        "request rate (req/s)",
                        "concurrency",
                        "runs on / off",
                        *[title for _, title in OVERVIEW],
                    ],
                    rows,
                    note="Overhead % [95% CI]; * = significant (CI excludes 0). Positive = the TEE costs.",
                )
            )
        )
    else:
        report.sections.append(Section("Load points").add(Paragraph("This profile has no load points yet.")))
    setup = Section("Engine and workload")
    engine = prof.get("engine")
    if isinstance(engine, Mapping) and engine and set(engine) <= {"on", "off"}:
        setup.add(environment_table(engine, title="Engine of each leg"))  # one engine per leg
    elif engine:
        setup.add(environment_table({"engine": engine}, title="Engine (both legs)"))
    if prof.get("workload"):
        setup.add(
            environment_table({"workload": prof["workload"]}, title="Workload (identical on both legs)")
        )
    if prof.get("order"):
        setup.add(Paragraph(f"Run order: {prof['order']}."))
    if setup.blocks:
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
