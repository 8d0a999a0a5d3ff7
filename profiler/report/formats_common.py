"""What the file formats share: where files go, and dispatch on block type without if/elif."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from profiler.report.model import PLOTS_DIR, Block, FigureBlock, Report

B = TypeVar("B")


def dispatch(handlers: dict[type, Callable[[Any], B]], block: Block) -> B:
    """Render ``block`` with the handler registered for its type (every format covers all)."""
    try:
        handler = handlers[type(block)]
    except KeyError:
        raise TypeError(f"no renderer for {type(block).__name__}") from None
    return handler(block)


def write_png(report: Report, fig: FigureBlock) -> Path:
    path = report.out_dir / PLOTS_DIR / f"{fig.name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(fig.png())
    tmp.replace(path)
    return path
