"""Several models in one report: models against overheads, in the layout of the reference
study's Table 1 (throughput: TPS, QPS) and Table 2 (latency: TTFT, ITL), TEE on / off / overhead.

Sources: comparison or profile directories (overheads with bootstrap CIs), or a pair of vLLM
nightly-benchmark summary files (``{tee,base}_*benchmark_results.json``: point estimates only,
so their overheads carry no CI and the report says so).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from catalog.metrics import lookup
from profiler.analysis import stats
from profiler.errors import UserError
from profiler.report import plots_latency
from profiler.report.comparison_view import resolve_runs
from profiler.report.model import FigureBlock, Paragraph, Report, Section, Table
from profiler.report.text import ci, headline, num, pct
from profiler.results.comparison import Comparison, MetricRow
from profiler.results.index import ProfileIndex
from profiler.store import COMPARISON, PROFILE, is_comparison_dir

TABLE1 = (("output_throughput", "TPS (output tok/s)"), ("request_throughput", "QPS (req/s)"))
TABLE2 = (("mean_ttft_ms", "TTFT (ms)"), ("mean_itl_ms", "ITL (ms)"))


@dataclass
class ModelRow:
    model: str
    load: str
    metrics: dict[str, MetricRow] = field(default_factory=dict)
    #: mean GPU utilisation (%) per leg while the runs were measured, when telemetry exists
    gpu_busy: dict[str, float] = field(default_factory=dict)
    headline: str = ""

    def as_plot_row(self) -> dict[str, Any]:
        return {
            "model": f"{self.model} @ {self.load}" if self.load else self.model,
            "metrics": {k: m.model_dump() for k, m in self.metrics.items()},
        }


def point_overhead(metric: str, on: float | None, off: float | None) -> MetricRow:
    """A point estimate from two summaries (no per-request data, so no CI), computed by the
    statistics home with the catalogue metric's direction."""
    found = lookup(metric)
    if found is None:
        raise ValueError(f"not a catalogue metric: {metric}")
    m, stat = found
    value = float(stats.overhead(on, off, m.direction)) if on is not None and off is not None else None
    return MetricRow(
        metric=metric, family=m.name, stat=stat, direction=m.direction, unit=m.unit, on=on, off=off,
        overhead_pct=value if value is not None and np.isfinite(value) else None,
        ci_low=None, ci_high=None, significant=None, n_on=1, n_off=1,
    )


# --- sources -------------------------------------------------------------------------------


def _gpu_busy(run_paths: Sequence[Path]) -> float | None:
    """Mean GPU busy share (%) over a leg's runs, from the telemetry breakdown; None without NVML."""
    from profiler.telemetry.breakdown import breakdown

    values = []
    for p in run_paths:
        gpu = breakdown(p).get("gpu") or {}
        if gpu.get("busy_fraction") is not None:
            values.append(100.0 * float(gpu["busy_fraction"]))
    return float(np.mean(values)) if values else None


def rows_from_comparison(cmp: Comparison, base: Path, load: str = "") -> ModelRow:
    metrics = {m.metric: m for m in cmp.metrics}
    row = ModelRow(
        cmp.model or base.name, load, metrics, headline=headline(cmp.model, cmp.metrics, aa=cmp.aa)
    )
    for leg, runs in (("on", cmp.on_runs), ("off", cmp.off_runs)):
        busy = _gpu_busy(resolve_runs(runs, base))
        if busy is not None:
            row.gpu_busy[leg] = busy
    return row


def rows_from_dirs(dirs: Sequence[Path]) -> list[ModelRow]:
    rows: list[ModelRow] = []
    for d in dirs:
        if (d / PROFILE).is_file():
            prof = ProfileIndex.load(d / PROFILE)
            for point in prof.load_points:
                cdir = d / point.comparison if point.comparison else None
                if cdir is not None and is_comparison_dir(cdir):
                    rows.append(rows_from_comparison(Comparison.load(cdir / COMPARISON), cdir, point.name))
        elif is_comparison_dir(d):
            rows.append(rows_from_comparison(Comparison.load(d / COMPARISON), d))
        else:
            raise UserError(f"{d} is neither a comparison ({COMPARISON}) nor a profile ({PROFILE}) directory")
    return rows


_SERVING = re.compile(r"^serving_(?P<model>.+?)_tp\d+_(?P<dataset>[a-z]+)_qps_(?P<qps>[\d.]+|inf)$")
_BENCH_KEYS = {
    "Tput (req/s)": "request_throughput",
    "Mean TTFT (ms)": "mean_ttft_ms",
    "Mean ITL (ms)": "mean_itl_ms",
    "Mean TPOT (ms)": "mean_tpot_ms",
    "Output Tput (tok/s)": "output_throughput",
}


def _bench_entries(path: Path) -> dict[tuple[str, str], dict[str, float]]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read vLLM benchmark results {path}: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(x, Mapping) and "Test name" in x for x in data):
        raise UserError(f"{path} is not a vLLM benchmark-results file (a list of objects with 'Test name')")
    out: dict[tuple[str, str], dict[str, float]] = {}
    for entry in data:
        m = _SERVING.match(str(entry["Test name"]))
        if not m:
            continue  # latency_* / throughput_* are offline benchmarks, not serving runs
        out[(m["model"], f"rate={m['qps']}")] = {
            key: float(entry[src]) for src, key in _BENCH_KEYS.items() if entry.get(src) is not None
        }
    return out


def rows_from_benchmark_results(tee: Path, base: Path) -> list[ModelRow]:
    on, off = _bench_entries(tee), _bench_entries(base)

    def order(key: tuple[str, str]) -> tuple[str, float]:
        rate = key[1].split("=", 1)[1]
        return key[0], float("inf") if rate == "inf" else float(rate)

    rows = []
    for key in sorted(set(on) & set(off), key=order):
        metrics = {
            k: point_overhead(k, on[key].get(k), off[key].get(k))
            for k in sorted(set(on[key]) | set(off[key]))
        }
        rows.append(ModelRow(key[0], key[1], metrics))
    if not rows:
        raise UserError(f"no serving test appears in both {tee} and {base}")
    return rows


# --- report --------------------------------------------------------------------------------


def _cells(row: ModelRow, metric: str) -> list[str]:
    c = row.metrics.get(metric)
    if c is None:
        return ["—", "—", "—"]
    over = pct(c.overhead_pct, 2)
    if c.ci_low is not None:
        over += f" [{ci(c.ci_low, c.ci_high)}]" + ("*" if c.significant else "")
    return [num(c.on), num(c.off), over]


def models_table(
    rows: Sequence[ModelRow], spec: Sequence[tuple[str, str]], title: str, with_gpu: bool
) -> Table:
    absent = [name for metric, name in spec if not any(metric in r.metrics for r in rows)]
    spec = [(metric, name) for metric, name in spec if name not in absent]
    columns = ["model", "load"]
    for _, name in spec:
        columns += [f"{name} TEE on", f"{name} TEE off", f"{name} overhead"]
    if with_gpu:
        columns += ["GPU busy on / off (%)"]
    body = []
    for r in rows:
        line = [r.model, r.load or "—"]
        for metric, _ in spec:
            line += _cells(r, metric)
        if with_gpu:
            line.append(
                " / ".join(num(r.gpu_busy.get(leg), 3) for leg in ("on", "off")) if r.gpu_busy else "—"
            )
        body.append(line)
    has_ci = any(m in r.metrics and r.metrics[m].ci_low is not None for r in rows for m, _ in spec)
    note = (
        "Overhead % [95% CI], * = significant. "
        if has_ci
        else "Point estimates from summaries: no per-request data, so no confidence interval. "
    )
    note += "Positive = the TEE costs (latency: (on − off)/off; throughput: (off − on)/off)."
    if absent:
        note += f" Not in these results: {', '.join(absent)}."
    if with_gpu:
        note += " GPU busy = mean NVML utilisation during the runs: where it is high, GPU time dominates."
    return Table(title, columns, body, note=note, align=["l", "l"] + ["r"] * (len(columns) - 2))


def build_models(
    rows: Sequence[ModelRow],
    *,
    source: Path,
    out_dir: Path,
    title: str = "TEE overhead across models",
    note: str = "",
) -> Report:
    if not rows:
        raise UserError(f"{source}: no comparisons or profiles found to put in a models table")
    with_gpu = any(r.gpu_busy for r in rows)
    report = Report(kind="models", title=title, source=source, out_dir=out_dir)
    report.headline = [r.headline for r in rows if r.headline] or [
        f"{len(rows)} model × load rows; overheads are point estimates (no per-request data, no CIs)."
    ]
    tables = Section("Models against overheads")
    if note:
        tables.add(Paragraph(note))
    tables.add(
        models_table(rows, TABLE1, "Table 1 — throughput", with_gpu),
        models_table(rows, TABLE2, "Table 2 — latency", with_gpu),
    )
    if not with_gpu:
        tables.add(Paragraph("GPU time dominance: no GPU telemetry in these results."))
    report.sections.append(tables)
    plot_rows = [r.as_plot_row() for r in rows]
    metrics = [m for m, _ in TABLE1 + TABLE2 if any(m in r.metrics for r in rows)]
    report.sections.append(
        Section("Plots", console=False).add(
            FigureBlock(
                "models_overhead",
                "Overhead per model",
                lambda: plots_latency.models_overheads(plot_rows, metrics),
                "One group per model and load; whiskers are 95% CIs where per-request data existed.",
            )
        )
    )
    return report
