"""What a load point says beyond its comparisons: the target-precision outcome, and for a chain
of legs the decomposition of the total overhead into its steps (table and stacked chart)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from profiler.report.model import Block, FigureBlock, Paragraph, Section, Table
from profiler.report.text import ci, metric_label, pct
from profiler.results.decomposition import Decomposition
from profiler.results.index import PointEntry, PrecisionEntry


def precision_paragraph(p: PrecisionEntry) -> Paragraph:
    widths = ", ".join(f"{metric_label(k)} ±{v:.2f}" for k, v in p.half_widths.items() if v is not None)
    if p.reached:
        what = f"target ±{p.target_pct:g} points reached after {p.blocks_run} blocks"
    else:
        why = {"budget": "the budget ended first", "max-blocks": "the block limit came first"}.get(
            p.stopped_by or "", "the profile stopped first")
        what = f"target ±{p.target_pct:g} points NOT reached: {why}, after {p.blocks_run} blocks"
    plan = f" (the pilot of {p.pilot_blocks} blocks asked for {p.blocks_needed})" if p.blocks_needed else ""
    return Paragraph(f"Precision: {what}{plan}; half-widths reached: {widths}.", emphasis=not p.reached)


def decomposition_table(d: Decomposition) -> Table:
    rows = []
    for row in d.metrics:
        total = row.total
        rows.append([metric_label(row.metric), f"{total.leg} vs {total.reference} (total)",
                     pct(total.overhead_pct, 2), ci(total.ci_low, total.ci_high, 2), "100%"])
        for s in row.steps:
            share = "—" if s.share_pct is None else f"{s.share_pct:.0f}%"
            rows.append(
                ["", f"{s.leg} vs {s.reference}", pct(s.overhead_pct, 2), ci(s.ci_low, s.ci_high, 2), share]
            )
    return Table(
        f"Decomposition along {' → '.join(d.chain)} ({d.blocks} blocks)",
        ["metric", "step", "overhead", "95% CI", "share of total"],
        rows,
        note=f"CIs: {d.interval}. Steps add up to the total on the log scale; a share is a point value.",
        align=["l", "l", "r", "r", "r"],
    )


def sentence(d: Decomposition, metric: str = "mean_tpot_ms") -> str | None:
    """ "Of the total +X% TPOT, tdx accounts for +a% [CI] and cc for +b% [CI]"."""
    row = next((r for r in d.metrics if r.metric == metric), None)
    if row is None or row.total.overhead_pct is None:
        return None
    parts = [f"{s.leg} for {pct(s.overhead_pct, 1)} [{ci(s.ci_low, s.ci_high)}]" for s in row.steps]
    return (
        f"Of the total {pct(row.total.overhead_pct, 1)} {metric_label(row.metric)}, "
        + " and ".join(parts)
        + "."
    )


def _stacked(d: Decomposition) -> Any:
    from profiler.report.plots_latency import stacked_increments

    return stacked_increments(d)


def point_sections(root: Path, point: PointEntry, prefix: str = "") -> list[Section]:
    blocks: list[Block] = []
    if point.precision is not None:
        blocks.append(precision_paragraph(point.precision))
    if point.decomposition and (root / point.decomposition).is_file():
        d = Decomposition.load(root / point.decomposition)
        if d.reason:
            blocks.append(Paragraph(f"No decomposition: {d.reason}."))
        else:
            line = sentence(d)
            if line:
                blocks.append(Paragraph(line, emphasis=True))
            blocks.append(decomposition_table(d))
            blocks.append(
                FigureBlock(
                    f"{prefix}decomposition",
                    "Overhead by step",
                    lambda: _stacked(d),
                    "Stacked increments per metric; whiskers: each step's 95% CI.",
                )
            )
    return [Section("Legs and precision").add(*blocks)] if blocks else []
