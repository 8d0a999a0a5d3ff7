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
from profiler.store import COMPARISON, Run, read_json, read_run

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


def overhead_table(metrics: Sequence[Mapping[str, Any]]) -> Table:
    rows = []
    for r in metrics:
        sig = r.get("significant")
        rows.append(
            [
                metric_label(str(r.get("metric"))),
                num(r.get("on")),
                num(r.get("off")),
                pct(r.get("overhead_pct"), 2),
                ci(r.get("ci_low"), r.get("ci_high"), 2),
                "—" if sig is None else ("yes" if sig else "no"),
                f"{num(r.get('n_on'))} / {num(r.get('n_off'))}",
            ]
        )
    return Table(
        "Overhead of TEE on vs TEE off",
        OVERHEAD_COLUMNS,
        rows,
        note="Latency: (on − off)/off. Throughput: (off − on)/off. Positive = the TEE costs. "
        "Significant = the 95% CI excludes 0.",
    )


def method_paragraph(cmp: Mapping[str, Any]) -> Paragraph:
    m = cmp.get("method") or {}
    conf = m.get("confidence", 0.95)
    text = (
        f"Confidence intervals: {m.get('bootstrap', '?')} bootstrap, {num(m.get('n_boot'))} "
        f"resamples, {float(conf) * 100:.0f}% level, seed {m.get('seed', '?')}. "
        f"TEE on: {len(cmp.get('on_runs') or [])} run(s); TEE off: {len(cmp.get('off_runs') or [])} run(s)."
    )
    return Paragraph(text)


def paper_table(pc: Mapping[str, Any]) -> Table:
    on, off = pc.get("on") or {}, pc.get("off") or {}

    def row(name: str, a: Any, b: Any, kind: str) -> list[str]:
        return [name, num(a, 6), num(b, 6), _overhead(a, b, kind)]

    rows = [
        ["samples (after filtering)", num(on.get("samples")), num(off.get("samples")), ""],
        row("TTFT (s)", on.get("ttft_s"), off.get("ttft_s"), "latency"),
        row("ITL = mean per-request decode time (s)", on.get("itl_s"), off.get("itl_s"), "latency"),
        row("TPS = mean of output tokens / decode time", on.get("tps"), off.get("tps"), "throughput"),
    ]
    for b in BUCKETS:
        bon = (on.get("buckets") or {}).get(b) or {}
        boff = (off.get("buckets") or {}).get(b) or {}
        rows.append([f"{b}: requests", num(bon.get("count")), num(boff.get("count")), ""])
        rows.append(row(f"{b}: TPS", bon.get("tps"), boff.get("tps"), "throughput"))
    label = pc.get("label") or "arXiv:2409.03992 definitions"
    return Table(
        "Paper-compatible view (arXiv:2409.03992)",
        ["quantity", "TEE on", "TEE off", "overhead"],
        rows,
        note=f"{label}. Buckets by input+output tokens: short ≤100, medium 101–500, long >500. "
        "Point estimates without CIs, as in the paper; these are not the standard metrics above.",
    )


def paper_figure(frames: Mapping[str, pd.DataFrame], pc: Mapping[str, Any], prefix: str) -> FigureBlock:
    """TPS against token size, as the reference study plotted it (its filter and definitions)."""

    def build() -> Any:
        from profiler.analysis import paper  # the analysis owns the paper's definitions

        points = {}
        for label, frame in frames.items():
            rows = paper.per_request(frame)
            points[label] = (rows["tokens"].to_numpy(float), rows["tps"].to_numpy(float))
        return plots_latency.paper_tps_vs_tokens(points, {k: pc[k] for k in ("on", "off") if pc.get(k)})

    return FigureBlock(
        f"{prefix}paper_tps_vs_tokens",
        "Decode rate against tokens (paper view)",
        build,
        "Each dot one request (the paper's filter applied); lines: short/medium/long bucket means.",
    )


def _overhead(on: Any, off: Any, kind: str) -> str:
    try:
        a, b = float(on), float(off)
    except (TypeError, ValueError):
        return "—"
    if b == 0:
        return "—"
    value = (a - b) / b if kind == "latency" else (b - a) / b
    return pct(value * 100, 2)


def token_volume_tables(tv: Mapping[str, Any]) -> list[Table]:
    tables = []
    bins = tv.get("bins") or []
    if bins:
        rows = [
            [
                f"{num(b.get('lo'))}–{num(b.get('hi'))}",
                num(b.get("n_on")),
                num(b.get("n_off")),
                pct(b.get("overhead_pct"), 2),
                ci(b.get("ci_low"), b.get("ci_high"), 2),
            ]
            for b in bins
        ]
        tables.append(
            Table(
                "Overhead by tokens per request (input + output)",
                ["tokens", "n on", "n off", "overhead", "95% CI"],
                rows,
            )
        )
    fit = tv.get("fit")
    if fit:
        rows = [
            [name, num(p.get("value")), num_range(p.get("ci_low"), p.get("ci_high"))]
            if isinstance(p, Mapping)
            else [name, num(p), "—"]
            for name, p in (fit.get("params") or {}).items()
        ]
        for key, label in FIT_FACTS:
            if key in fit:
                value = fit.get(key)
                if key.startswith("tokens_below") and value is None:
                    rows.append([label, "not reached in the data range", ""])
                elif key == "change_per_10k_tokens_pct":
                    ci_pair = fit.get("change_per_10k_tokens_ci") or [None, None]
                    rows.append([label, num(value), num_range(*ci_pair)])
                else:
                    rows.append([label, num(value), ""])
        note = str(fit.get("equation") or "")
        if fit.get("extrapolated"):
            note += " The per-10k-token change extrapolates beyond the measured token span."
        alt = fit.get("alternative")
        if alt:
            note += f" Alternative on the bins: {alt.get('equation', fits.describe(alt))}; "
            note += f"better fit on the bins (AIC): {fit.get('better_fit_on_bins', '?')}."
        tables.append(
            Table(
                f"Token-volume fit: {fits.describe(fit)}", ["parameter", "value", "95% CI"], rows, note=note
            )
        )
    return tables


FIT_FACTS = (
    ("phi_output_share", "output share φ of tokens"),
    ("r2", "R²"),
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
    cmp: Mapping[str, Any],
    base: Path,
    prefix: str = "",
    opts: Options | None = None,
    run_dirs: Mapping[str, Sequence[Path]] | None = None,
) -> tuple[str, list[Section]]:
    """(headline, sections) of one comparison; ``prefix`` keeps plot names unique in a profile."""
    metrics = list(cmp.get("metrics") or [])
    aa = bool(cmp.get("aa"))
    line = headline(cmp.get("model"), metrics, aa=aa)
    # A profile knows its runs relative to itself, which survives moving the directory.
    on_paths = [p for p in (run_dirs or {}).get("on", []) if p.is_dir()] or resolve_runs(
        cmp.get("on_runs"), base
    )
    off_paths = [p for p in (run_dirs or {}).get("off", []) if p.is_dir()] or resolve_runs(
        cmp.get("off_runs"), base
    )
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
    warns = [
        Warn(str(w.get("code", "warning")), str(w.get("message", "")), w.get("leg"))
        for w in cmp.get("warnings") or []
    ]
    # The analysis' checks cover status, errors, lag and sample size for every run; from the
    # runs themselves only the error messages add something (what failed, not just how often).
    for run in on_runs + off_runs:
        warns.extend(w for w in run_warnings(run, run.table("requests")) if w.code in RUN_ONLY_WARNINGS)
    missing = len(cmp.get("on_runs") or []) + len(cmp.get("off_runs") or []) - len(on_paths) - len(off_paths)
    if missing:
        warns.append(
            Warn(
                "runs_missing",
                f"{missing} run directories named in {COMPARISON} were not "
                "found; plots use the runs that were",
            )
        )
    sections = [main, Section("Data-quality warnings").add(Warnings(warns))]

    envs = cmp.get("environment") or {}
    manifests = {lab: runs[0].manifest for lab, runs in (("on", on_runs), ("off", off_runs)) if runs}
    if not any(envs.values()) and manifests:
        envs = {lab: m.get("environment") for lab, m in manifests.items()}
    sections.append(Section("Environment").add(*environment_blocks(envs, manifests)))

    pc = cmp.get("paper_compat")
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

    tv = cmp.get("token_volume") or {}
    tv_section = Section("Overhead against token volume")
    tv_section.add(*token_volume_tables(tv))
    if tv.get("reason"):
        tv_section.add(Paragraph(f"Note: {tv['reason']}"))
    if tv.get("bins") or tv.get("fit"):
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

    summaries = {lab: runs[0].summary for lab, runs in (("on", on_runs), ("off", off_runs)) if runs}
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
    cmp = read_json(path / COMPARISON)
    line, sections = comparison_sections(cmp, path, opts=opts)
    model = cmp.get("model") or "model"
    kind = "A/A calibration" if cmp.get("aa") else "TEE on vs TEE off"
    report = Report(
        calibration=bool(cmp.get("aa")),
        kind="comparison",
        title=f"{model}: {kind}",
        source=path,
        out_dir=Path(out_dir or path),
        headline=[line],
        sections=sections,
    )
    return report
