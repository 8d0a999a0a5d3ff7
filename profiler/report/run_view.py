"""The report of one run directory: what ran, its summary, its warnings, CDFs and timeline."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from catalog.metrics import METRICS, RUN_STAT
from profiler.report import plots_latency, plots_time
from profiler.report.environment import environment_blocks
from profiler.report.model import (
    Block,
    FigureBlock,
    Options,
    Paragraph,
    Report,
    Section,
    Table,
    Warn,
    Warnings,
)
from profiler.report.plots_common import leg_name
from profiler.report.text import metric_label, num
from profiler.results.run import RunManifest, RunSummary
from profiler.store import Run, read_run

#: The statistics of request-level metrics a run's summary table shows.
LATENCY_STATS = ("mean", "median", "p90", "p95", "p99")
COUNT_KEYS = ("completed", "failed", "duration", "total_input_tokens", "total_output_tokens")

#: A load generator that sends this late is measuring itself, not the server.
CLIENT_LAG_WARN_MS = 10.0
FEW_REQUESTS = 30


def summary_tables(summaries: Mapping[str, RunSummary]) -> list[Table]:
    """Latency (rows = metric × statistic) and throughput tables, one column per leg; the rows
    come from the metric catalogue."""
    labels = list(summaries)
    cols = [leg_name(lab) for lab in labels]

    def present(key: str) -> bool:
        return any(s.get(key) is not None for s in summaries.values())

    lat_rows = []
    rate_keys: list[str] = []
    for metric in METRICS.values():
        if metric.level == "run":
            rate_keys.append(metric.summary_key(RUN_STAT))
            continue
        for stat in metric.summary_stats:
            key = metric.summary_key(stat)
            if (stat in LATENCY_STATS or metric.name == "client_lag") and present(key):
                lat_rows.append([metric_label(key), *[num(s.get(key)) for s in summaries.values()]])
    rate_rows = [
        [metric_label(k), *[num(s.get(k)) for s in summaries.values()]]
        for k in [*rate_keys, *COUNT_KEYS]
        if present(k)
    ]
    tables = []
    if lat_rows:
        tables.append(
            Table(
                "Latency",
                ["metric", *cols],
                lat_rows,
                note="ITL percentiles pool every token gap of every request, as vLLM does.",
            )
        )
    if rate_rows:
        tables.append(
            Table(
                "Throughput and counts",
                ["metric", *cols],
                rate_rows,
                note="duration in s; rates per second of the measured window (warm-up excluded).",
            )
        )
    return tables


def run_warnings(run: Run, frame: pd.DataFrame | None) -> list[Warn]:
    """Plain checks a reader needs before trusting one run's numbers."""
    out: list[Warn] = []
    label = run.label or None
    m = run.manifest
    if m.status != "complete":
        out.append(
            Warn(
                "incomplete",
                (
                    "the run has not finished (still running, or its process died before saving)"
                    if m.status == "running"
                    else f"run status is {m.status!r}"
                    + (f": {m.reason}" if m.reason else "")
                    + "; numbers cover only what was measured"
                ),
                label,
            )
        )
    s = run.llm
    if s.failed:
        out.append(Warn("failed_requests", f"{s.failed} of {s.failed + s.completed} requests failed", label))
    lag = s.value("p99_client_lag_ms")
    if lag is not None and lag > CLIENT_LAG_WARN_MS:
        out.append(
            Warn(
                "client_lag",
                f"p99 client lag {lag:.1f} ms > {CLIENT_LAG_WARN_MS:g} ms: the "
                "load generator sent late, so arrival times were not what the schedule said",
                label,
            )
        )
    if run.summary is not None and s.completed < FEW_REQUESTS:
        out.append(
            Warn(
                "few_requests",
                f"only {s.completed} requests completed; percentiles (p99 especially) rest on very "
                "few samples",
                label,
            )
        )
    if frame is not None and "error" in frame.columns:
        errors = frame["error"].dropna().astype(str)
        errors = errors[errors != ""]
        if not errors.empty:
            common = errors.value_counts().head(3)
            listed = "; ".join(f"{n}× {str(msg)[:80]}" for msg, n in common.items())
            out.append(Warn("errors", f"most common errors: {listed}", label))
    return out


#: Above this share of exactly-0 inter-token gaps, ITL percentiles mix decode steps with flushes.
COALESCED_WARN = 0.10


def client_warnings(run: Run) -> list[Warn]:
    """What the load generator says about itself and about the prompts' lengths."""
    out: list[Warn] = []
    label = run.label or None
    s = run.llm
    if run.manifest.tokenizer_mode == "words":
        out.append(
            Warn(
                "approximate_lengths",
                "prompt lengths are approximate: counted as words (no tokenizer, "
                "no /tokenize on the endpoint)",
                label,
            )
        )
    coalesced = s.value("coalesced_itl_fraction")
    if coalesced is not None and coalesced > COALESCED_WARN:
        out.append(
            Warn(
                "coalesced_events",
                f"{coalesced:.0%} of inter-token gaps are 0: those events arrived "
                "together (the server flushed them at once, e.g. while rendering /metrics, or reads "
                "were late), so ITL percentiles mix decode steps with flushes",
                label,
            )
        )
    if s.get("client_bound"):
        out.append(Warn("client_bound", str(s.get("client_health")), label))
    return out


def headline_of(run: Run) -> str:
    m, s = run.manifest, run.llm
    who = " · ".join(str(x) for x in (m.model, leg_name(run.label or "run"), m.endpoint) if x)
    text = (
        f"{who}: {num(s.completed)} requests completed, {num(s.failed)} failed; "
        f"mean TTFT {num(s.get('mean_ttft_ms'))} ms, mean TPOT {num(s.get('mean_tpot_ms'))} ms, "
        f"{num(s.get('output_throughput'))} output tokens/s over {num(s.duration)} s."
    )
    if m.status != "complete":
        text += f" Status: {m.status}" + (f" ({m.reason})" if m.reason else "") + " — partial results."
    return text


def run_summary_blocks(run: Run) -> list[Block]:
    """What `tee-llm-prof run` prints: the headline, the summary tables, warnings, client health."""
    blocks: list[Block] = [Paragraph(headline_of(run), emphasis=True)]
    if run.summary is not None:
        blocks += summary_tables({run.label or "run": run.llm})
    blocks.append(Warnings(run_warnings(run, run.table("requests")) + client_warnings(run)))
    health = run.llm.get("client_health")
    if health and not run.llm.get("client_bound"):
        blocks.append(Paragraph(f"client health: {health}"))
    return blocks


def facts_table(manifest_model: RunManifest) -> Table:
    manifest = manifest_model.model_dump(mode="json")
    workload = manifest.get("workload") or {}
    rows = [
        [k, num(manifest.get(k)) if not isinstance(manifest.get(k), str) else str(manifest.get(k))]
        for k in (
            "run_id",
            "label",
            "model",
            "endpoint",
            "served_model",
            "status",
            "reason",
            "started",
            "finished",
            "tool_version",
        )
        if manifest.get(k) is not None
    ]
    if isinstance(workload, Mapping):
        for k in (
            "dataset",
            "api",
            "num_requests",
            "input_len",
            "output_len",
            "concurrency",
            "request_rate",
            "request_rates",
            "seed",
            "repeats",
        ):
            if workload.get(k) is not None:
                rows.append([f"workload.{k}", _plain(workload[k])])
    return Table("What ran", ["item", "value"], rows, align=["l", "l"])


def _plain(value: Any) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return num(value) if isinstance(value, (int, float)) else str(value)


def run_figures(
    legs: Mapping[str, pd.DataFrame],
    telemetry: Mapping[str, pd.DataFrame],
    prefix: str = "",
    first: Mapping[str, pd.DataFrame] | None = None,
) -> list[FigureBlock | Paragraph]:
    """CDFs, latency vs tokens, timeline and (when sampled) GPU telemetry for these legs.

    ``legs`` may pool several repetitions (distributions); time-based figures use ``first``
    (one run per leg, the one the telemetry belongs to), since pooled runs share no time axis.
    """
    one = dict(first) if first is not None else dict(legs)
    starts = {lab: s for lab, f in one.items() if (s := plots_time.start_ns(f)) is not None}
    figs: list[FigureBlock | Paragraph] = [
        FigureBlock(
            f"{prefix}latency_cdf",
            "Latency distributions",
            lambda: plots_latency.latency_cdfs(legs),
            "Empirical CDFs of TTFT, TPOT, ITL and E2E latency; further right = slower.",
        ),
        FigureBlock(
            f"{prefix}latency_vs_tokens",
            "Latency against token counts",
            lambda: plots_latency.latency_vs_tokens(legs),
            "TTFT grows with prompt length (prefill); TPOT with load and sequence length.",
        ),
    ]
    if starts:
        figs.append(
            FigureBlock(
                f"{prefix}timeline",
                "Timeline",
                lambda: plots_time.timeline(one),
                "Output tokens/s, requests in flight and client lag over the run.",
            )
        )
    else:  # e.g. imported vLLM v0.5 results: per-request latencies, but no clock stamps
        figs.append(Paragraph("No timeline: these runs carry no send/arrival timestamps, only latencies."))
    if telemetry:
        figs.append(
            FigureBlock(
                f"{prefix}gpu_telemetry",
                "GPU telemetry",
                lambda: plots_time.telemetry(telemetry, starts),
                "NVML samples taken in a background thread during the run.",
            )
        )
    return figs


def paper_leg_table(frame: pd.DataFrame, label: str) -> Table:
    """arXiv:2409.03992's statistics for one leg (no overhead: a single run has no baseline)."""
    from profiler.analysis import paper  # the analysis owns the paper's definitions

    view = paper.leg_view(frame)
    rows = [
        ["samples (after filtering)", num(view["samples"])],
        ["TTFT (s)", num(view["ttft_s"], 6)],
        ["ITL = mean per-request decode time (s)", num(view["itl_s"], 6)],
        ["TPS = mean of output tokens / decode time", num(view["tps"], 6)],
    ]
    for name, b in view["buckets"].items():
        rows.append([f"{name}: requests / TPS", f"{num(b['count'])} / {num(b['tps'], 6)}"])
    return Table(
        "Paper-compatible view (arXiv:2409.03992)",
        ["quantity", leg_name(label)],
        rows,
        note=paper.LABEL,
    )


def build(path: Path, out_dir: Path | None = None, opts: Options | None = None) -> Report:
    run = read_run(path)
    m = run.manifest
    frame = run.table("requests")
    s = run.llm
    label = run.label or "run"
    title = f"Run {run.run_id}"
    headline = headline_of(run)
    report = Report(
        kind="run", title=title, source=Path(path), out_dir=Path(out_dir or path), headline=[headline]
    )
    report.sections.append(Section("What ran").add(facts_table(m)))
    summary = Section("Summary").add(*summary_tables({label: s}) if run.summary is not None else [])
    report.sections.append(summary if summary.blocks else summary.add(Paragraph("No summary.json (yet).")))
    report.sections.append(
        Section("Data-quality warnings").add(Warnings(run_warnings(run, frame) + client_warnings(run)))
    )
    env = environment_blocks({label: m.environment}, {label: m.model_dump(mode="json")})
    report.sections.append(Section("Environment").add(*env))

    if opts is not None and opts.paper_compat and frame is not None and not frame.empty:
        report.sections.append(Section("Paper-compatible view").add(paper_leg_table(frame, label)))
    plots = Section("Plots", console=False)
    if frame is None or frame.empty:
        plots.add(Paragraph("No requests.parquet: nothing to plot."))
    else:
        telemetry = run.table("telemetry")
        tel = {label: telemetry} if telemetry is not None and not telemetry.empty else {}
        plots.add(*run_figures({label: frame}, tel))
    report.sections.append(plots)
    return report
