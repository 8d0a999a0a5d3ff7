"""The PNG format: every figure of the report as plots/<name>.png (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from profiler.report.formats_common import write_png
from profiler.report.model import Report


def write(report: Report, console: Console | None = None) -> list[Path]:
    return [write_png(report, f) for f in report.figures()]
