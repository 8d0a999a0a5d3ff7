"""The load-curve view: overhead against offered load, and the queueing model explaining it.

Renders what ``load_curve.json`` holds (its rows are the per-point comparisons' rows; the
model's predictions were computed when the file was written). Used by the report of a
``compare`` output with several load points, by the profile's report and by the sweep.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from profiler.report import plots_load
from profiler.report.model import FigureBlock, Options, Paragraph, Report, Section, Table
from profiler.report.text import ci, metric_label, num, pct
from profiler.results.comparison import MetricRow
from profiler.results.load_curve import CurvePoint, LoadCurve, QueueModel

LEG_WORDS = {"on": "TEE on", "off": "TEE off"}
SUMMARY_ONLY = "none: summaries only (no per-request data), point estimates without CIs"


def cell(row: MetricRow | None) -> str:
    if row is None or row.overhead_pct is None:
        return "—"
    text = pct(row.overhead_pct, 2) + ("*" if row.significant else "")
    return text + (f" [{ci(row.ci_low, row.ci_high, 2)}]" if row.ci_low is not None else " (no CI)")


def offered(p: CurvePoint, kind: str) -> str:
    if kind == "concurrency":
        return num(p.concurrency)
    if p.request_rate is None:
        return "—"
    return "inf" if math.isinf(p.request_rate) else num(p.request_rate)


def overhead_table(curve: LoadCurve) -> Table:
    keys = plots_load.metric_keys(curve.points)
    short = {k: metric_label(k).replace(" (ms)", "").replace("output tokens/s (TPS)", "tok/s") for k in keys}
    columns = ["point", "offered", "req/s on / off", "tok/s on / off", *(short[k] for k in keys)]
    rows = [
        [
            p.name,
            offered(p, curve.load_kind),
            f"{num(p.on.qps)} / {num(p.off.qps)}",
            f"{num(p.on.output_tps)} / {num(p.off.output_tps)}",
            *(cell(p.row(k)) for k in keys),
        ]
        for p in curve.points
    ]
    load = "concurrency" if curve.load_kind == "concurrency" else "request rate (req/s)"
    note = (
        f"Offered load: {load}; req/s and tok/s: what each leg achieved. Overhead % [95% CI], * = the CI "
        f"excludes 0; positive = the TEE costs. CIs: {curve.interval}."
    )
    optional = [short[k] for k in keys if k not in ("mean_ttft_ms", "mean_tpot_ms", "output_throughput")]
    return Table(
        "Overhead against offered load",
        columns,
        rows,
        note=note,
        align=["l", *["r"] * (len(columns) - 1)],
        optional=[*optional, "tok/s on / off"],
    )


def unpaired_table(curve: LoadCurve) -> Table | None:
    if not curve.unpaired:
        return None
    rows = [
        [u.name, LEG_WORDS.get(u.leg, u.leg), str(len(u.runs)), ", ".join(u.runs)] for u in curve.unpaired
    ]
    return Table(
        "Load points only one leg measured (not compared)",
        ["point", "measured by", "runs", "run dirs"],
        rows,
        optional=["run dirs"],
    )


def _f(x: float | None, digits: int = 3) -> str:
    return num(x, digits)


def queue_tables(q: QueueModel) -> list[Table]:
    legs = Table(
        "Queueing model: each leg",
        ["leg", "capacity μ (req/s)", "measured at", "T0 (ms)", "knee (req/s)", "knee ρ", "points < μ"],
        [
            [
                LEG_WORDS.get(k, k),
                _f(v.capacity_qps),
                v.capacity_from.replace("achieved throughput at ", ""),
                _f(v.t0_ms),
                _f(v.knee_rate),
                pct(100 * v.knee_utilisation, 0, sign=False) if v.knee_utilisation else "—",
                str(v.stable_points),
            ]
            for k, v in q.legs.items()
        ],
        note="Knee: the load at which the modelled queueing delay equals T0 (TTFT doubles).",
        optional=["points < μ", "measured at"],
    )
    rows = []
    for p in q.points:
        rho = " / ".join(
            pct(100 * u, 0, sign=False) if u is not None else "—"
            for u in (p.utilisation_on, p.utilisation_off)
        )
        measured = pct(p.measured_overhead_pct, 2)
        if p.ci_low is not None:
            measured += f" [{ci(p.ci_low, p.ci_high, 2)}]"
        rows.append(
            [
                p.name,
                p.regime,
                rho,
                f"{_f(p.measured_on_ms)} / {_f(p.measured_off_ms)}",
                f"{_f(p.predicted_on_ms)} / {_f(p.predicted_off_ms)}",
                pct(p.predicted_overhead_pct, 2),
                measured,
                "—" if p.amplification is None else f"×{p.amplification:.1f}",
                p.note,
            ]
        )
    points = Table(
        "Predicted vs measured mean TTFT overhead",
        [
            "point",
            "regime",
            "ρ on / off",
            "TTFT on / off (ms)",
            "model on / off (ms)",
            "model overhead",
            "measured overhead",
            "amplification",
            "note",
        ],
        rows,
        note="ρ = offered load / capacity. Amplification: % of queueing delay a 1% capacity loss costs "
        "at the baseline's ρ: (2 − ρ)/(1 − ρ) below capacity, ρ/(ρ − 1) above (queue growth). "
        "The model's numbers are point estimates (no CI).",
        optional=["note", "model on / off (ms)", "TTFT on / off (ms)", "amplification"],
    )
    return [legs, points]


def queue_paragraphs(q: QueueModel) -> list[Paragraph]:
    if not q.supported:
        return [Paragraph(f"The data cannot support the queueing model: {q.reason}.", emphasis=True)]
    k = f"K = {q.k:.3g} ({'fitted' if q.k_fitted else 'assumed: M/M/1'})" if q.k is not None else ""
    out = [
        Paragraph(
            f"Model: {q.equation}; {k}. Capacity overhead (μ_off − μ_on)/μ_off: "
            f"{pct(q.capacity_overhead_pct, 2)}."
        )
    ]
    if q.crossing is not None:
        out.append(Paragraph(_sentence(q), emphasis=True))
    return out


def _sentence(q: QueueModel) -> str:
    c = q.crossing
    assert c is not None
    text = c.note[0].upper() + c.note[1:] + "."
    if any(p.calibration for p in q.points):
        text += (
            " With one point below capacity per leg, T0 is calibrated on it and K assumed: the model "
            "explains the curve but these data do not test it."
        )
    return text


def load_curve_sections(curve: LoadCurve, prefix: str = "") -> list[Section]:
    main = Section("Load curve").add(overhead_table(curve), unpaired_table(curve))
    if curve.interval.startswith("none"):
        main.add(Paragraph("These overheads come from summaries only: point estimates, no CI."))
    sections = [main]
    q = curve.queueing
    if q is not None:
        model = Section("Queueing model: why the TTFT overhead grows with load")
        model.add(*queue_paragraphs(q))
        if q.supported:
            model.add(*queue_tables(q))
        sections.append(model)
        if q.assumptions:
            sections.append(
                Section("Queueing model: assumptions", console=False).add(
                    Paragraph(" ".join(f"({i + 1}) {a}" for i, a in enumerate(q.assumptions)))
                )
            )
    sections.append(
        Section("Load-curve plots", console=False).add(
            FigureBlock(
                f"{prefix}overhead_vs_load",
                "Overhead against offered load",
                lambda: plots_load.overhead_vs_load(curve),
                "Per metric: overhead % with 95% CI whiskers (hollow: no CI); rate=inf at the right end. "
                "TTFT panel: the M/G/1 model (dashed), its value at each point (×), the limit's crossing.",
            ),
            FigureBlock(
                f"{prefix}latency_vs_throughput",
                "Latency against throughput (the knee)",
                lambda: plots_load.latency_vs_throughput(curve),
                "Per leg: mean latency against achieved req/s; dashed: the M/G/1 TTFT; dotted: capacity μ.",
            ),
        )
    )
    return sections


def headline(curve: LoadCurve) -> list[str]:
    parts = [f"{p.name}: {pct(r.overhead_pct, 2)}" for p in curve.points if (r := p.row("mean_ttft_ms"))]
    lines = [f"Mean TTFT overhead across {len(curve.points)} load points — " + ", ".join(parts) + "."]
    q = curve.queueing
    if q is not None:
        lines.append(
            _sentence(q) if q.supported and q.crossing else f"Queueing model: not supported ({q.reason})."
        )
    if curve.unpaired:
        lines.append(f"{len(curve.unpaired)} load point(s) measured by one leg only (listed, not compared).")
    return lines


def build(path: Path, out_dir: Path | None = None, opts: Options | None = None) -> Report:
    from profiler.analysis.load_curve import find_curve

    path = find_curve(path)  # a sweep keeps its curve beside the comparisons, in compare/
    curve = LoadCurve.load(path)
    title = f"Load curve: {curve.model or 'model'}" + (" (A/A calibration)" if curve.aa else "")
    report = Report(
        kind="load_curve", title=title, source=Path(path), out_dir=Path(out_dir or path), calibration=curve.aa
    )
    report.headline = headline(curve)
    report.sections = load_curve_sections(curve)
    links = [p.comparison for p in curve.points if p.comparison]
    if links:
        report.sections.append(
            Section("Per-point comparisons", console=False).add(
                Paragraph(
                    "Each load point's full comparison (overheads of every statistic, data quality, "
                    "token volume): "
                    + ", ".join(f"{c}/report.html" for c in links)
                    + "."
                )
            )
        )
    return report


def curves_table(curves: list[LoadCurve]) -> Table:
    """One row per model: the TTFT overhead at each point, and what the model makes of it."""
    rows = []
    for c in curves:
        q = c.queueing
        cells = ", ".join(
            f"{p.name.removeprefix('rate=')}: {pct(r.overhead_pct, 1)}"
            for p in c.points
            if (r := p.row("mean_ttft_ms")) is not None
        )
        if q is None or not q.supported:
            model = f"not supported: {q.reason if q else 'no model'}"
        else:
            cap = pct(q.capacity_overhead_pct, 1)
            cross = q.crossing.note if q.crossing else ""
            model = f"capacity {cap}; {cross}"
        rows.append([c.model or "—", cells, model])
    limit = next((c.queueing.crossing.limit_pct for c in curves if c.queueing and c.queueing.crossing), None)
    return Table(
        "Load curves (mean TTFT overhead by request rate)",
        ["model", "TTFT overhead", "queueing model"],
        rows,
        note=(
            "Point estimates from summaries: no per-request data, so no CI. "
            + (f"Limit: {limit:g}% TTFT overhead." if limit is not None else "")
        ),
        align=["l", "l", "l"],
    )


def benchmark_load_curves(
    tee: Path,
    base: Path,
    out_dir: Path,
    formats: Sequence[str],
    console: Console | None = None,
    limit_pct: float = 10.0,
) -> list[Path]:
    """``out_dir/load-curve/<model>/``: load_curve.json and its report, for every model a pair
    of vLLM benchmark-results files holds at two rates or more."""
    from profiler.analysis.load_curve import curve_from_summaries
    from profiler.report import write
    from profiler.report.models_view import _bench_entries

    on, off = _bench_entries(tee), _bench_entries(base)
    curves, written = [], []
    for model in sorted({m for m, _ in on} & {m for m, _ in off}):
        legs = [{_rate(load): v for (m, load), v in entries.items() if m == model} for entries in (on, off)]
        if len(set(legs[0]) & set(legs[1])) < 2:
            continue
        curve = curve_from_summaries(model, legs[0], legs[1], source="benchmark-results", limit_pct=limit_pct)
        d = Path(out_dir) / "load-curve" / _slug(model)
        d.mkdir(parents=True, exist_ok=True)
        curve.save(d)
        written.append(d / LoadCurve.FILE)
        if files := [f for f in formats if f != "console"]:
            written += write(build(d), files)
        curves.append(curve)
    if curves:
        written += write(models_report(curves, Path(out_dir) / "load-curve", tee), formats, console)
    return written


def models_report(curves: Sequence[LoadCurve], out_dir: Path, source: Path) -> Report:
    """Several models' load curves side by side (one row and one panel per model)."""
    report = Report(kind="load_curves", title="Load curves across models", source=source, out_dir=out_dir)
    report.headline = [
        "Mean TTFT overhead against request rate per model, with the M/G/1 queueing model of each "
        "(summaries only: point estimates, no CI). Each model's full view: <model>/report.md beside this one."
    ]
    report.sections = [
        Section("Load curves").add(curves_table(list(curves))),
        Section("Load-curve plot", console=False).add(
            FigureBlock(
                "ttft_overhead_by_model",
                "Mean TTFT overhead against load, per model",
                lambda: plots_load.models_ttft(curves),
                "Hollow: measured (no CI); dashed: the M/G/1 model; ×: the model at each point.",
            )
        ),
    ]
    return report


def _rate(load: str) -> float:
    text = load.split("=", 1)[-1]
    return math.inf if text == "inf" else float(text)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text).strip("_") or "model"
