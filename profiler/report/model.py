"""What a report shows, independent of how it is drawn.

A :class:`Report` is a title, headline sentences and an ordered list of sections; a section is
an ordered list of blocks (paragraphs, tables, warnings, figures). Views (``run_view``,
``comparison_view``, ...) build reports from run, comparison and profile directories; formats
(``console``, ``md``, ``html``, ``png``) draw any report. Keeping the two apart means every format
shows the same content, and a format never reads a parquet file itself.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib is imported only when a figure is really drawn
    from matplotlib.figure import Figure as MplFigure

PLOTS_DIR = "plots"


@dataclass
class Paragraph:
    text: str
    emphasis: bool = False


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    #: "l" or "r" per column; numbers read best right-aligned.
    align: list[str] = field(default_factory=list)
    #: columns a narrow terminal may leave out, the first one first (the files keep them all)
    optional: list[str] = field(default_factory=list)

    def alignment(self) -> list[str]:
        return self.align or ["l"] + ["r"] * (len(self.columns) - 1)


@dataclass
class Warn:
    code: str
    message: str
    leg: str | None = None

    def text(self) -> str:
        where = f" [{self.leg}]" if self.leg else ""
        return f"{self.code}{where}: {self.message}"


@dataclass
class Warnings:
    items: list[Warn]
    #: What to say when there is nothing to warn about (an empty list is a result too).
    empty: str = "No data-quality warnings."


@dataclass
class FigureBlock:
    """A plot, built lazily: a console report never pays for matplotlib."""

    name: str  # file stem under plots/
    title: str
    build: Callable[[], MplFigure]
    caption: str = ""
    _png: bytes | None = field(default=None, repr=False)
    _figure: MplFigure | None = field(default=None, repr=False)

    def figure(self) -> MplFigure:
        if self._figure is None:
            self._figure = self.build()
        return self._figure

    def png(self) -> bytes:
        if self._png is None:
            buf = io.BytesIO()
            fig = self.figure()
            fig.savefig(buf, format="png", dpi=100)
            self._png = buf.getvalue()
        return self._png

    @property
    def relpath(self) -> str:
        return f"{PLOTS_DIR}/{self.name}.png"


Block = Paragraph | Table | Warnings | FigureBlock


@dataclass
class Section:
    heading: str
    blocks: list[Block] = field(default_factory=list)
    #: False for detail a terminal need not repeat (per-leg summaries of a comparison, plot
    #: lists): the files carry it. Keeps the console answer to one screen per load point.
    console: bool = True

    def add(self, *blocks: Block | None) -> Section:
        self.blocks.extend(b for b in blocks if b is not None)
        return self


@dataclass(frozen=True)
class Options:
    """What the user asked for beyond the defaults (``tee-llm-prof report --paper-compat``)."""

    #: show the arXiv:2409.03992 view even where comparison.json did not store it
    paper_compat: bool = False


@dataclass
class Report:
    kind: str  # run | comparison | profile | models
    title: str
    source: Path
    #: where report.md / report.html / plots/ are written (the source directory by default)
    out_dir: Path
    headline: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    #: an A/A comparison or profile: formats mark it so nobody quotes noise as a TEE cost
    calibration: bool = False

    def figures(self) -> list[FigureBlock]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, FigureBlock)]

    def tables(self) -> list[Table]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Table)]

    def close_figures(self) -> None:
        """Drop drawn figures once every format has what it needs (PNG bytes stay cached).

        Figures are plain ``matplotlib.figure.Figure`` objects, not pyplot ones, so dropping
        the reference frees them; no global pyplot state is involved.
        """
        for fig in self.figures():
            fig._figure = None
