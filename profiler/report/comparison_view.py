"""The report of a comparison directory (comparison.json): headline, overhead table with CIs,
data-quality warnings, environment per leg, paper-compatible table, token-volume law, plots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from profiler.report import fits, plots_latency
from profiler.report.breakdown_view import breakdown_blocks
from profiler.report.environment import environment_blocks
from profiler.report.model import FigureBlock, Options, Paragraph, Report, Section, Table, Warn, Warnings
from profiler.report.run_view import run_figures, run_warnings, summary_tables
from profiler.report.text import ci, headline, metric_label, num, pct
from profiler.results.comparison import Comparison, MetricRow, PaperView, TokenVolume
from profiler.store import COMPARISON, Run, read_run

RUN_ONLY_WARNINGS = {"errors"}
OVERHEAD_COLUMNS = ["metric", "TEE on", "TEE off", "overhead", "95% CI", "significant", "n on / off"]
BUCKETS = ("short", "medium", "long")


def resolve_runs(paths: Sequence[str] | None, base: Path) -> list[Path]:
    """Run paths as stored (absolute, relative to the comparison dir, or to the cwd)."""
    found = []
    for raw in paths or []:
        p = Path(raw)
        for cand in (p, base / p, base.parent / p):
            if cand.is_dir():
                found.append(cand)
                break
    return found


def overhead_table(metrics: Sequence[MetricRow]) -> Table:
    rows = []
    for r in metrics:
        sig = r.significant
        rows.append(
            [
                r.metric if r.suite else metric_label(r.metric),
                num(r.on),
                num(r.off),
                pct(r.overhead_pct, 2) + (" *" if sig else ""),
                ci(r.ci_low, r.ci_high, 2),
                "—" if sig is None else ("yes" if sig else "no"),
                f"{num(r.n_on)} / {num(r.n_off)}",
            ]
        )
    return Table(
        "Overhead of TEE on vs TEE off",
        OVERHEAD_COLUMNS,
        rows,
        note="Latency: (on − off)/off. Throughput: (off − on)/off. Positive = the TEE costs. "
        "* / significant = the 95% CI excludes 0.",
        optional=["n on / off", "significant", "TEE off", "TEE on"],
    )


def method_paragraph(cmp: Comparison) -> Paragraph:
    m = cmp.method
    boot = f", {num(m.n_boot)} resamples, seed {m.seed}" if m.n_boot else ""
    text = (
        f"Confidence intervals ({m.confidence * 100:.0f}%): {m.interval}; design: {m.bootstrap}{boot}. "
        f"TEE on: {len(cmp.on_runs)} run(s); TEE off: {len(cmp.off_runs)} run(s)."
    )
    return Paragraph(text)


def paper_table(pc: PaperView) -> Table:
    on, off, ov = pc.on, pc.off, pc.overheads

    def row(name: str, a: Any, b: Any, key: str) -> list[str]:
        return [name, num(a, 6), num(b, 6), pct(ov.get(key), 2)]

    rows = [
        ["samples (after filtering)", num(on.samples), num(off.samples), ""],
        row("TTFT (s)", on.ttft_s, off.ttft_s, "ttft"),
        row("ITL = mean per-request decode time (s)", on.itl_s, off.itl_s, "itl"),
        row("TPS = mean of output tokens / decode time", on.tps, off.tps, "tps"),
    ]
    for b in BUCKETS:
        bon, boff = on.buckets.get(b), off.buckets.get(b)
        rows.append(
            [f"{b}: requests", num(bon.count if bon else None), num(boff.count if boff else None), ""]
        )
        rows.append(row(f"{b}: TPS", bon.tps if bon else None, boff.tps if boff else None, f"tps_{b}"))
    label = pc.label
    return Table(
        "Paper-compatible view (arXiv:2409.03992)",
        ["quantity", "TEE on", "TEE off", "overhead"],
        rows,
        note=f"{label}. Buckets by input+output tokens: short ≤100, medium 101–500, long >500. "
        "Point estimates without CIs, as in the paper; these are not the standard metrics above.",
    )


def paper_figure(frames: Mapping[str, pd.DataFrame], pc: PaperView, prefix: str) -> FigureBlock:
    """TPS against token size, as the reference study plotted it (its filter and definitions)."""

    def build() -> Any:
        from profiler.analysis import paper  # the analysis owns the paper's definitions

        points = {}
        for label, frame in frames.items():
            rows = paper.per_request(frame)
            points[label] = (rows["tokens"].to_numpy(float), rows["tps"].to_numpy(float))
        return plots_latency.paper_tps_vs_tokens(points, {"on": pc.on, "off": pc.off})

    return FigureBlock(
        f"{prefix}paper_tps_vs_tokens",
        "Decode rate against tokens (paper view)",
        build,
        "Each dot one request (the paper's filter applied); lines: short/medium/long bucket means.",
    )


def token_volume_tables(tv: TokenVolume) -> list[Table]:
    tables = []
    if tv.bins:
        rows = [
            [
                f"{num(b.lo)}–{num(b.hi)}",
                num(b.n_on),
                num(b.n_off),
                pct(b.overhead_pct, 2),
                ci(b.ci_low, b.ci_high, 2),
            ]
            for b in tv.bins
        ]
        tables.append(
            Table(
                "Overhead by tokens per request (input + output)",
                ["tokens", "n on", "n off", "overhead", "95% CI"],
                rows,
                note=f"CIs: {tv.interval}." if tv.interval else "",
            )
        )
    fit = tv.fit
    if fit:
        rows = [[name, num(p.value), num_range(p.ci_low, p.ci_high)] for name, p in fit.params.items()]
        for key, label in FIT_FACTS:
            value = getattr(fit, key)
            if key.startswith("tokens_below") and value is None:
                rows.append([label, "not reached in the data range", ""])
            elif key == "change_per_10k_tokens_pct":
                pair = fit.change_per_10k_tokens_ci
                rows.append([label, num(value), num_range(*pair) if pair else "—"])
            else:
                rows.append([label, num(value), ""])
        note = fit.equation
        if fit.extrapolated:
            note += " The per-10k-token change extrapolates beyond the measured token span."
        alt = fit.alternative
        if alt:
            note += f" Alternative on the bins: {alt.equation or fits.describe(alt)}; "
            note += f"better fit on the bins (AIC): {fit.better_fit_on_bins}."
        tables.append(
            Table(
                f"Token-volume fit: {fits.describe(fit)}", ["parameter", "value", "95% CI"], rows, note=note
            )
        )
    return tables


FIT_FACTS = (
    ("phi_output_share", "output share φ of tokens"),
    ("r2_on", "R² (TEE on)"),
    ("r2_off", "R² (TEE off)"),
    ("overhead_at_min_pct", "overhead at the fewest tokens (%)"),
    ("overhead_at_max_pct", "overhead at the most tokens (%)"),
    ("tokens_below_5pct", "tokens for overhead < 5%"),
    ("tokens_below_1pct", "tokens for overhead < 1%"),
    ("change_per_10k_tokens_pct", "overhead change per +10k tokens (points)"),
)


def num_range(low: Any, high: Any) -> str:
    return "—" if low is None or high is None else f"{num(low)} – {num(high)}"


def leg_frames(paths: Sequence[Path]) -> tuple[pd.DataFrame | None, list[Run]]:
    runs = [read_run(p) for p in paths]
    frames = [r.table("requests") for r in runs]
    frames = [f for f in frames if f is not None and not f.empty]
    return (pd.concat(frames, ignore_index=True) if frames else None), runs


def comparison_sections(
    cmp: Comparison,
    base: Path,
    prefix: str = "",
    opts: Options | None = None,
    run_dirs: Mapping[str, Sequence[Path]] | None = None,
) -> tuple[str, list[Section]]:
    """(headline, sections) of one comparison; ``prefix`` keeps plot names unique in a profile."""
    metrics = cmp.metrics
    line = headline(cmp.model, metrics, aa=cmp.aa)
    # A profile knows its runs relative to itself, which survives moving the directory.
    on_paths = [p for p in (run_dirs or {}).get("on", []) if p.is_dir()] or resolve_runs(cmp.on_runs, base)
    off_paths = [p for p in (run_dirs or {}).get("off", []) if p.is_dir()] or resolve_runs(cmp.off_runs, base)
    on_frame, on_runs = leg_frames(on_paths)
    off_frame, off_runs = leg_frames(off_paths)

    main = Section("Overhead").add(overhead_table(metrics), method_paragraph(cmp))
    if metrics:
        main.add(
            FigureBlock(
                f"{prefix}overhead",
                "Overhead per metric",
                lambda: plots_latency.overhead_bars(metrics),
                "Bars: overhead; whiskers: 95% CI; red = significant.",
            )
        )
    warns = [Warn(w.code, w.message, w.leg) for w in cmp.warnings]
    # The analysis' checks cover status, errors, lag and sample size for every run; from the
    # runs themselves only the error messages add something (what failed, not just how often).
    for run in on_runs + off_runs:
        warns.extend(w for w in run_warnings(run, run.table("requests")) if w.code in RUN_ONLY_WARNINGS)
    missing = len(cmp.on_runs) + len(cmp.off_runs) - len(on_paths) - len(off_paths)
    if missing:
        warns.append(
            Warn(
                "runs_missing",
                f"{missing} run directories named in {COMPARISON} were not "
                "found; plots use the runs that were",
            )
        )
    sections = [main, Section("Data-quality warnings").add(Warnings(warns))]

    envs: dict[str, Any] = dict(cmp.environment)
    manifests = {
        lab: runs[0].manifest.model_dump(mode="json")
        for lab, runs in (("on", on_runs), ("off", off_runs))
        if runs
    }
    if not any(envs.values()) and manifests:
        envs = {lab: m.get("environment") for lab, m in manifests.items()}
    sections.append(Section("Environment").add(*environment_blocks(envs, manifests)))

    pc = cmp.paper_compat
    if not pc and opts is not None and opts.paper_compat and on_frame is not None and off_frame is not None:
        from profiler.analysis import paper  # the analysis owns the paper's definitions

        pc = paper.paper_view(on_frame, off_frame)
    if pc:
        paper_sec = Section("Paper-compatible view").add(paper_table(pc))
        if on_frame is not None and off_frame is not None:
            paper_sec.add(paper_figure({"on": on_frame, "off": off_frame}, pc, prefix))
        sections.append(paper_sec)
    elif opts is not None and opts.paper_compat:
        sections.append(
            Section("Paper-compatible view").add(
                Paragraph("Not available: the runs' requests were not found.")
            )
        )

    tv = cmp.token_volume
    tv_section = Section("Overhead against token volume")
    if tv is not None:
        tv_section.add(*token_volume_tables(tv))
        if tv.reason:
            tv_section.add(Paragraph(f"Note: {tv.reason}"))
    if tv is not None and (tv.bins or tv.fit):
        tv_section.add(
            FigureBlock(
                f"{prefix}token_volume",
                "Overhead against tokens per request",
                lambda: plots_latency.token_volume(tv),
                "Per-bucket overhead with 95% CIs; line: fitted token-volume law.",
            )
        )
    if tv_section.blocks:
        sections.append(tv_section)

    sections.append(Section("Where the time went").add(
        *breakdown_blocks(on_runs[0].path if on_runs else None, off_runs[0].path if off_runs else None)
    ))  # fmt: skip

    summaries = {lab: runs[0].llm for lab, runs in (("on", on_runs), ("off", off_runs)) if runs}
    if summaries:
        n = max(len(on_runs), len(off_runs))
        leg_sec = Section("Per-leg summaries", console=False).add(*summary_tables(summaries))
        if n > 1:
            leg_sec.add(
                Paragraph(
                    f"First repetition of each leg shown ({n} repetitions ran); the overhead "
                    "table above uses all of them."
                )
            )
        sections.append(leg_sec)

    legs = {lab: f for lab, f in (("on", on_frame), ("off", off_frame)) if f is not None}
    plots = Section("Plots", console=False)
    if legs:
        first = {lab: runs[0].table("requests") for lab, runs in (("on", on_runs), ("off", off_runs)) if runs}
        tel: dict[str, pd.DataFrame] = {}
        for lab, runs in (("on", on_runs), ("off", off_runs)):
            t = runs[0].table("telemetry") if runs else None
            if t is not None and not t.empty:
                tel[lab] = t
        plots.add(*run_figures(legs, tel, prefix, {k: v for k, v in first.items() if v is not None}))
    else:
        plots.add(Paragraph("The runs of this comparison were not found: no per-request plots."))
    sections.append(plots)
    return line, sections


def build(path: Path, out_dir: Path | None = None, opts: Options | None = None) -> Report:
    path = Path(path)
    cmp = Comparison.load(path / COMPARISON)
    line, sections = comparison_sections(cmp, path, opts=opts)
    model = cmp.model or (f"{cmp.subject} suite" if cmp.subject != "llm" else "model")
    kind = "A/A calibration" if cmp.aa else "TEE on vs TEE off"
    report = Report(
        calibration=cmp.aa,
        kind="comparison",
        title=f"{model}: {kind}",
        source=path,
        out_dir=Path(out_dir or path),
        headline=[line],
        sections=sections,
    )
    return report
