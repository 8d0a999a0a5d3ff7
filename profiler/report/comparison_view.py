"""The report of a comparison directory (comparison.json): headline, overhead table with CIs,
data-quality warnings, environment per leg, paper-compatible table, token-volume law, plots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from catalog.registry import Registry
from profiler.report import fits, plots_latency
from profiler.report.breakdown_view import breakdown_blocks
from profiler.report.environment import environment_blocks
from profiler.report.model import FigureBlock, Options, Paragraph, Report, Section, Table, Warn, Warnings
from profiler.report.plots_common import leg_name
from profiler.report.run_view import run_figures, run_warnings, summary_tables
from profiler.report.text import ci, headline, metric_label, num, pct
from profiler.results.comparison import Comparison, MetricRow, PaperView, Power, TokenVolume
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


def overhead_table(
    metrics: Sequence[MetricRow], leg: str | None = None, reference: str | None = None
) -> Table:
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
        f"Overhead of {leg_name(leg or 'on')} vs {leg_name(reference or 'off')}",
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


@dataclass
class ComparisonContext:
    """What every section of a comparison report may draw from: comparison.json and its runs."""

    cmp: Comparison
    base: Path
    prefix: str  # keeps plot names unique in a profile
    opts: Options | None
    on_paths: list[Path]
    off_paths: list[Path]
    on_frame: pd.DataFrame | None
    off_frame: pd.DataFrame | None
    on_runs: list[Run]
    off_runs: list[Run]

    @property
    def firsts(self) -> dict[str, Run]:
        """The first run of each leg that has one."""
        return {lab: runs[0] for lab, runs in (("on", self.on_runs), ("off", self.off_runs)) if runs}


SectionBuilder = Callable[[ComparisonContext], "Section | None"]
#: The sections of a comparison report, in report order. A new section is one builder
#: registered here (it returns None when it has nothing to show).
SECTIONS: Registry[SectionBuilder] = Registry("comparison report section")


@SECTIONS.register("overhead")
def _overhead_section(ctx: ComparisonContext) -> Section:
    metrics = ctx.cmp.metrics
    main = Section("Overhead").add(
        overhead_table(metrics, ctx.cmp.leg, ctx.cmp.reference), method_paragraph(ctx.cmp))
    if metrics:
        main.add(FigureBlock(f"{ctx.prefix}overhead", "Overhead per metric",
                             lambda: plots_latency.overhead_bars(metrics),
                             "Bars: overhead; whiskers: 95% CI; red = significant."))
    return main


@SECTIONS.register("nodes")
def _nodes_section(ctx: ComparisonContext) -> Section | None:
    """The nodes as a dimension: each node's value per leg, against the pooled reference leg."""
    nodes = ctx.cmp.nodes
    if not nodes:
        return None
    names = {"on": leg_name(ctx.cmp.leg or "on"), "off": leg_name(ctx.cmp.reference or "off")}
    label = {m.metric: (m.metric if m.suite else metric_label(m.metric)) for m in ctx.cmp.metrics}
    rows = [
        [label.get(n.metric, n.metric), names[n.leg], n.node, num(n.value), str(n.n),
         pct(n.vs_reference_pct, 2)]
        for n in nodes
    ]
    return Section("Nodes").add(
        Table(
            "Per node",
            ["metric", "leg", "node", "value", "n", f"vs pooled {names['off']}"],
            rows,
            align=["l", "l", "l", "r", "r", "r"],
            note=f"Each node's own mean (n: repetitions, or requests a client node sent); the last column is "
            f"its overhead against all of {names['off']} pooled. The {names['off']} nodes' own spread is "
            "the fleet's noise floor; a TEE node far outside it is an outlier, not the TEE's cost.",
        )
    )


#: The metrics a precision table shows (the headline ones a profile's target applies to).
POWER_METRICS = ("mean_ttft_ms", "mean_tpot_ms", "mean_itl_ms", "mean_e2el_ms", "steady_output_throughput",
                 "output_throughput")


def power_table(power: Power) -> Table:
    rows = []
    targets: list[float] = sorted({n.target_pct for r in power.rows for n in r.needed})
    for r in power.rows:
        if r.metric not in POWER_METRICS:
            continue
        needs = {n.target_pct: n for n in r.needed}
        cells = []
        for t in targets:
            n = needs.get(t)
            if n is None or n.blocks is None:
                cells.append("—")
            else:
                cells.append(f"{n.blocks}" + (f" ({n.minutes:.1f} min)" if n.minutes is not None else ""))
        lead = [metric_label(r.metric), str(r.blocks), _plus(r.half_width_pct), _plus(r.mde_pct)]
        rows.append([*lead, *cells])
    unit = "blocks" if power.design == "blocks" else "runs per leg"
    note = (
        f"Half-width and minimum detectable overhead (MDE: {power.confidence:.0%} confidence, "
        f"{power.power:.0%} power) from {power.note}."
    )
    if power.block_seconds:
        note += f" One block took {power.block_seconds:.1f} s."
    return Table(
        "Precision and power",
        ["metric", unit, "CI half-width", "MDE", *[f"{unit} for ±{t:g}" for t in targets]],
        rows,
        note=note,
        optional=[f"{unit} for ±{t:g}" for t in targets[::-1]],
    )


def _plus(x: float | None) -> str:
    return "—" if x is None else f"±{x:.2f}%" if x < 100 else f"±{x:.0f}%"


@SECTIONS.register("power")
def _power_section(ctx: ComparisonContext) -> Section | None:
    power = ctx.cmp.power
    if power is None:
        if ctx.cmp.method.bootstrap in ("paired", "independent"):
            return Section("Precision and power").add(
                Paragraph(
                    "No precision or power figures: one run per leg shows no run-to-run spread. Profile "
                    "in blocks (--repeats 8) to learn the smallest overhead this setup can detect."
                )
            )
        return None
    return Section("Precision and power").add(power_table(power))


@SECTIONS.register("warnings")
def _warnings_section(ctx: ComparisonContext) -> Section:
    warns = [Warn(w.code, w.message, w.leg) for w in ctx.cmp.warnings]
    # The analysis' checks cover status, errors, lag and sample size for every run; from the
    # runs themselves only the error messages add something (what failed, not just how often).
    for run in ctx.on_runs + ctx.off_runs:
        warns.extend(w for w in run_warnings(run, run.table("requests")) if w.code in RUN_ONLY_WARNINGS)
    missing = len(ctx.cmp.on_runs) + len(ctx.cmp.off_runs) - len(ctx.on_paths) - len(ctx.off_paths)
    if missing:
        warns.append(
            Warn(
                "runs_missing",
                f"{missing} run directories named in {COMPARISON} were not found; "
                "plots use the runs that were",
            )
        )
    return Section("Data-quality warnings").add(Warnings(warns))


@SECTIONS.register("environment")
def _environment_section(ctx: ComparisonContext) -> Section:
    envs: dict[str, Any] = dict(ctx.cmp.environment)
    manifests = {lab: run.manifest.model_dump(mode="json") for lab, run in ctx.firsts.items()}
    if not any(envs.values()) and manifests:
        envs = {lab: m.get("environment") for lab, m in manifests.items()}
    return Section("Environment").add(*environment_blocks(envs, manifests))


@SECTIONS.register("paper")
def _paper_section(ctx: ComparisonContext) -> Section | None:
    asked = ctx.opts is not None and ctx.opts.paper_compat
    pc = ctx.cmp.paper_compat
    frames = {lab: f for lab, f in (("on", ctx.on_frame), ("off", ctx.off_frame)) if f is not None}
    if not pc and asked and len(frames) == 2:
        from profiler.analysis import paper  # the analysis owns the paper's definitions

        pc = paper.paper_view(frames["on"], frames["off"])
    if pc:
        sec = Section("Paper-compatible view").add(paper_table(pc))
        if len(frames) == 2:
            sec.add(paper_figure(frames, pc, ctx.prefix))
        return sec
    if asked:
        missing = Paragraph("Not available: the runs' requests were not found.")
        return Section("Paper-compatible view").add(missing)
    return None


@SECTIONS.register("token_volume")
def _token_volume_section(ctx: ComparisonContext) -> Section | None:
    tv = ctx.cmp.token_volume
    if tv is None:
        return None
    sec = Section("Overhead against token volume").add(*token_volume_tables(tv))
    if tv.reason:
        sec.add(Paragraph(f"Note: {tv.reason}"))
    if tv.bins or tv.fit:
        sec.add(
            FigureBlock(
                f"{ctx.prefix}token_volume",
                "Overhead against tokens per request",
                lambda: plots_latency.token_volume(tv),
                "Per-bucket overhead with 95% CIs; line: fitted token-volume law.",
            )
        )
    return sec if sec.blocks else None


@SECTIONS.register("breakdown")
def _breakdown_section(ctx: ComparisonContext) -> Section:
    firsts = ctx.firsts
    on, off = firsts.get("on"), firsts.get("off")
    return Section("Where the time went").add(
        *breakdown_blocks(on.path if on else None, off.path if off else None)
    )


@SECTIONS.register("summaries")
def _summaries_section(ctx: ComparisonContext) -> Section | None:
    summaries = {lab: run.llm for lab, run in ctx.firsts.items()}
    if not summaries:
        return None
    sec = Section("Per-leg summaries", console=False).add(*summary_tables(summaries))
    n = max(len(ctx.on_runs), len(ctx.off_runs))
    if n > 1:
        sec.add(
            Paragraph(
                f"First repetition of each leg shown ({n} repetitions ran); the overhead table above "
                "uses all of them."
            )
        )
    return sec


@SECTIONS.register("plots")
def _plots_section(ctx: ComparisonContext) -> Section:
    legs = {lab: f for lab, f in (("on", ctx.on_frame), ("off", ctx.off_frame)) if f is not None}
    plots = Section("Plots", console=False)
    if not legs:
        return plots.add(Paragraph("The runs of this comparison were not found: no per-request plots."))
    first = {lab: t for lab, run in ctx.firsts.items() if (t := run.table("requests")) is not None}
    tel = {
        lab: t for lab, run in ctx.firsts.items() if (t := run.table("telemetry")) is not None and not t.empty
    }
    return plots.add(*run_figures(legs, tel, ctx.prefix, first))


def comparison_sections(
    cmp: Comparison,
    base: Path,
    prefix: str = "",
    opts: Options | None = None,
    run_dirs: Mapping[str, Sequence[Path]] | None = None,
) -> tuple[str, list[Section]]:
    """(headline, sections) of one comparison; ``prefix`` keeps plot names unique in a profile."""
    # A profile knows its runs relative to itself, which survives moving the directory.
    on_paths = [p for p in (run_dirs or {}).get("on", []) if p.is_dir()] or resolve_runs(cmp.on_runs, base)
    off_paths = [p for p in (run_dirs or {}).get("off", []) if p.is_dir()] or resolve_runs(cmp.off_runs, base)
    on_frame, on_runs = leg_frames(on_paths)
    off_frame, off_runs = leg_frames(off_paths)
    ctx = ComparisonContext(
        cmp, base, prefix, opts, on_paths, off_paths, on_frame, off_frame, on_runs, off_runs
    )
    sections = [sec for builder in SECTIONS.values() if (sec := builder(ctx)) is not None]
    return headline(cmp.model, cmp.metrics, aa=cmp.aa, leg=cmp.leg, reference=cmp.reference), sections


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
