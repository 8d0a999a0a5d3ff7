"""Reports: console (rich), Markdown, one self-contained HTML file, and PNG plots.

    from profiler.report import render
    render(Path("out/cmp"))                       # console + report.md + report.html + plots/*.png
    render(Path("out/run-1"), formats=("html",))  # a run, a comparison, a profile, or a folder of them

What a report shows is built once (:mod:`profiler.report.model`, by the ``*_view`` modules);
every format draws the same content. Formats and source kinds register by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from catalog.registry import Registry
from profiler.errors import UserError
from profiler.report import comparison_view, load_curve_view, models_view, profile_view, run_view, suite_view
from profiler.report import console as console_format
from profiler.report import html as html_format
from profiler.report import markdown as md_format
from profiler.report import png as png_format
from profiler.report.console import show
from profiler.report.model import Options, Report
from profiler.results.load_curve import LoadCurve
from profiler.store import COMPARISON, MANIFEST, PROFILE, is_comparison_dir

DEFAULT_FORMATS: tuple[str, ...] = ("console", "md", "html", "png")
LOAD_CURVE = LoadCurve.FILE


@dataclass(frozen=True)
class ReportFormat:
    name: str
    help: str
    write: Callable[[Report, Console | None], list[Path]]


FORMATS: Registry[ReportFormat] = Registry("report format")
for _fmt in (
    ReportFormat("console", "rich tables in the terminal", console_format.write),
    ReportFormat("md", "report.md (links plots/*.png, which it writes too)", md_format.write),
    ReportFormat("html", "report.html: one self-contained file, plots embedded", html_format.write),
    ReportFormat("png", "plots/*.png (matplotlib)", png_format.write),
):
    FORMATS.add(_fmt.name, _fmt)


@dataclass(frozen=True)
class Source:
    """A kind of directory a report can be built from; the lowest ``rank`` that matches wins."""

    rank: int
    matches: Callable[[Path], bool]
    build: Callable[[Path, Path | None, Options | None], Report]


def _model_dirs(path: Path) -> list[Path]:
    return sorted(
        p for p in path.iterdir() if p.is_dir() and ((p / PROFILE).is_file() or is_comparison_dir(p))
    )


def _run_kind(path: Path) -> str | None:
    if not (path / MANIFEST).is_file():
        return None
    from profiler.results.run import RunManifest

    return RunManifest.load(path / MANIFEST).kind


def _build_models(path: Path, out_dir: Path | None, opts: Options | None = None) -> Report:
    rows = models_view.rows_from_dirs(_model_dirs(path))
    return models_view.build_models(rows, source=path, out_dir=Path(out_dir or path))


SOURCES: Registry[Source] = Registry("report source")
SOURCES.add("profile", Source(0, lambda p: (p / PROFILE).is_file(), profile_view.build))
SOURCES.add("comparison", Source(1, lambda p: (p / COMPARISON).is_file(), comparison_view.build))
SOURCES.add("load curve", Source(1, lambda p: any((p / d / LOAD_CURVE).is_file() for d in (".", "compare")),
                                 load_curve_view.build))
SOURCES.add("suite run", Source(2, lambda p: _run_kind(p) not in (None, "llm"), suite_view.build))
SOURCES.add("run", Source(3, lambda p: (p / MANIFEST).is_file(), run_view.build))
SOURCES.add("models", Source(4, lambda p: bool(_model_dirs(p)), _build_models))


def parse_formats(text: str | Iterable[str]) -> tuple[str, ...]:
    """``"md,html"`` or ``["md", "html"]`` → validated names (an unknown name lists the known)."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    for n in names:
        if n not in FORMATS:
            raise UserError(f"unknown report format {n!r}; known: {', '.join(FORMATS.names())}")
    if not names:
        raise UserError(f"no report format given; known: {', '.join(FORMATS.names())}")
    return tuple(dict.fromkeys(names))


def build(path: Path, out_dir: Path | None = None, opts: Options | None = None) -> Report:
    """The report model of a run, comparison or profile directory, or a folder of comparisons."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path} is not a directory (expected a run, comparison or profile directory)")
    for _, source in sorted(SOURCES.items(), key=lambda kv: kv[1].rank):
        if source.matches(path):
            return source.build(path, out_dir, opts)
    raise UserError(f"{path} holds no {MANIFEST}, {COMPARISON} or {PROFILE}, nor directories that do")


def write(
    report: Report, formats: Sequence[str] = DEFAULT_FORMATS, console: Console | None = None
) -> list[Path]:
    written: list[Path] = []
    try:
        for name in parse_formats(formats):
            for p in FORMATS.get(name).write(report, console):
                if p not in written:
                    written.append(p)
    finally:
        report.close_figures()
    return written


def render(
    path: Path,
    formats: Sequence[str] = DEFAULT_FORMATS,
    console: Console | None = None,
    out_dir: Path | None = None,
    paper_compat: bool = False,
) -> list[Path]:
    """Render the report of ``path`` in ``formats``; returns the files written (console: none).

    Files go into ``path`` itself (report.md, report.html, plots/) unless ``out_dir`` is given.
    ``paper_compat`` adds the arXiv:2409.03992 view even where comparison.json lacks it.
    """
    return write(build(Path(path), out_dir, Options(paper_compat=paper_compat)), formats, console)


def render_benchmark_results(
    tee: Path,
    base: Path,
    out_dir: Path,
    formats: Sequence[str] = DEFAULT_FORMATS,
    console: Console | None = None,
) -> list[Path]:
    """Models × overheads from a pair of vLLM nightly-benchmark summary files (TEE on, TEE off)."""
    rows = models_view.rows_from_benchmark_results(Path(tee), Path(base))
    report = models_view.build_models(
        rows,
        source=Path(tee),
        out_dir=Path(out_dir),
        note=f"TEE on: {tee}; TEE off: {base}. Serving tests present in both files.",
    )
    return write(report, formats, console)


def render_many(
    paths: Sequence[Path],
    out_dir: Path,
    formats: Sequence[str] = DEFAULT_FORMATS,
    console: Console | None = None,
) -> list[Path]:
    """One models × overheads report over several comparison or profile directories."""
    rows = models_view.rows_from_dirs([Path(p) for p in paths])
    return write(
        models_view.build_models(rows, source=Path(out_dir), out_dir=Path(out_dir)), formats, console
    )


__all__ = [
    "DEFAULT_FORMATS",
    "FORMATS",
    "SOURCES",
    "Report",
    "build",
    "parse_formats",
    "render",
    "render_benchmark_results",
    "render_many",
    "show",
    "write",
]
