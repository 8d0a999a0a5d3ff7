"""The console format: rich tables in the terminal (figures are named, not drawn)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType
from rich.panel import Panel
from rich.table import Table as RichTable
from rich.text import Text

from profiler.report.formats_common import dispatch
from profiler.report.model import Block, FigureBlock, Paragraph, Report, Table, Warnings

JUSTIFY = {"l": "left", "r": "right"}


def _fits(t: Table, keep: list[int], width: int) -> bool:
    """Would the kept columns fit ``width`` without wrapping a cell (3 characters of border and
    padding per column)?"""
    need = 1
    for i in keep:
        cells = [t.columns[i], *(row[i] for row in t.rows if i < len(row))]
        need += max(len(c) for c in cells) + 3
    return need <= width


def narrowed(t: Table, width: int) -> Table:
    """``t`` without its optional columns, first one first, until it fits ``width``; the
    caption says which were left out (the Markdown and HTML reports keep them)."""
    keep = list(range(len(t.columns)))
    dropped: list[str] = []
    for name in t.optional:
        if _fits(t, keep, width) or name not in t.columns:
            continue
        keep.remove(t.columns.index(name))
        dropped.append(name)
    if not dropped:
        return t
    align = t.alignment()
    note = (t.note + " " if t.note else "") + f"(Left out at this width: {', '.join(dropped)}.)"
    return Table(t.title, [t.columns[i] for i in keep], [[row[i] for i in keep] for row in t.rows], note=note,
                 align=[align[i] for i in keep])


def _table(t: Table, width: int = 10_000) -> RichTable:
    t = narrowed(t, width)
    rt = RichTable(
        title=t.title,
        caption=t.note or None,
        title_justify="left",
        caption_justify="left",
        header_style="bold",
        show_lines=False,
    )
    for col, align in zip(t.columns, t.alignment(), strict=False):
        rt.add_column(col, justify=JUSTIFY.get(align, "left"), overflow="fold")  # type: ignore[arg-type]
    for row in t.rows:
        rt.add_row(*row)
    return rt


def _warnings(w: Warnings) -> Text:
    if not w.items:
        return Text(w.empty, style="green")
    text = Text()
    for item in w.items:
        text.append("⚠ ", style="yellow")
        text.append(item.text() + "\n")
    return text


def _paragraph(p: Paragraph) -> Text:
    return Text(p.text, style="bold" if p.emphasis else "")


def _figure(f: FigureBlock) -> Text:
    return Text(f"[figure] {f.title}: {f.relpath}", style="dim")


HANDLERS: dict[type, Callable[[Any], RenderableType]] = {
    Table: _table,
    Warnings: _warnings,
    Paragraph: _paragraph,
    FigureBlock: _figure,
}


def _render(block: Block, console: Console) -> RenderableType:
    if isinstance(block, Table):
        return _table(block, console.width)
    return dispatch(HANDLERS, block)


def show(console: Console, *blocks: Block) -> None:
    """Print report blocks (tables, paragraphs, warnings) as the console format draws them:
    every command's terminal output goes through here, so it matches ``tee-llm-prof report``."""
    for block in blocks:
        console.print(_render(block, console))


def write(report: Report, console: Console | None = None) -> list[Path]:
    console = console or Console()
    console.rule(f"[bold]{report.title}")
    for line in report.headline:
        title = "A/A calibration: noise floor, not a TEE cost" if report.calibration else None
        console.print(Panel(Text(line, style="bold"), title=title, expand=True))
    skipped = [s.heading for s in report.sections if not s.console]
    for section in (s for s in report.sections if s.console):
        console.print()
        console.print(Text(section.heading, style="bold underline"))
        for block in section.blocks:
            console.print(_render(block, console))
    if skipped:
        console.print(Text(f"\nIn report.md / report.html only: {', '.join(skipped)}.", style="dim"))
    return []
