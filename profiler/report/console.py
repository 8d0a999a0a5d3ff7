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
from profiler.report.model import FigureBlock, Paragraph, Report, Table, Warnings

JUSTIFY = {"l": "left", "r": "right"}


def _table(t: Table) -> RichTable:
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
            console.print(dispatch(HANDLERS, block))
    if skipped:
        console.print(Text(f"\nIn report.md / report.html only: {', '.join(skipped)}.", style="dim"))
    return []
