"""``tee-llm-prof report``: console, Markdown, HTML and PNG reports of runs and comparisons."""

from __future__ import annotations

import argparse
from pathlib import Path

from profiler.errors import UserError

DESCRIPTION = """\
Write the report of a run directory, a comparison directory (comparison.json), a profile
directory (profile.json), or a folder holding several comparisons/profiles (a models ×
overheads table). By default it prints to the terminal and writes report.md, report.html
(one self-contained file, plots embedded) and plots/*.png into that directory.

Several directories, or a pair of vLLM nightly-benchmark summary files (TEE on first, then
TEE off), give one models × overheads report (the reference study's Table 1/2 layout) in --out;
for a pair, every model served at several rates also gets its load curve and queueing model in
--out/load-curve/<model>/ (point estimates: summaries hold no per-request data, so no CIs).

examples:
  tee-llm-prof report out/profiles/20261126-tiny/                 a whole profile
  tee-llm-prof report out/cmp --format html                       only report.html
  tee-llm-prof report out/cmp --paper-compat                      add the arXiv:2409.03992 view
  tee-llm-prof report out/cmp-8b out/cmp-70b --out out/models     models × overheads
  tee-llm-prof report tee_benchmark_results.json base_benchmark_results.json --out out/phala
"""

DEFAULT_OUT = Path("tee-llm-prof-report")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="run, comparison or profile directory (or several; or two benchmark-results JSON files)",
    )
    p.add_argument(
        "--format",
        default="console,md,html,png",
        help="comma-separated formats: console, md, html, png (default: all)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"where to write files (default: the directory itself; for several inputs ./{DEFAULT_OUT})",
    )
    p.add_argument(
        "--paper-compat",
        action="store_true",
        help="add the paper-compatible view (arXiv:2409.03992 definitions) where it is missing",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from profiler import report

    formats = report.parse_formats(args.format)
    console = Console()
    paths: list[Path] = list(args.paths)
    for p in paths:
        if not p.exists():
            raise UserError(f"{p} does not exist")
    if args.out is not None:
        from profiler.experiment.preflight import check_writable

        check_writable(Path(args.out))
    if len(paths) == 1:
        written = report.render(paths[0], formats, console, out_dir=args.out, paper_compat=args.paper_compat)
    elif len(paths) == 2 and all(p.is_file() and p.suffix == ".json" for p in paths):
        written = report.render_benchmark_results(
            paths[0], paths[1], args.out or DEFAULT_OUT, formats, console
        )
        from profiler.report.load_curve_view import benchmark_load_curves

        # models measured at several rates: their load curves (point estimates) beside it
        written += benchmark_load_curves(paths[0], paths[1], args.out or DEFAULT_OUT, formats, console)
    else:
        files = [p for p in paths if not p.is_dir()]
        if files:
            raise UserError(
                f"{files[0]} is not a directory; several inputs must all be comparison or "
                "profile directories (or exactly two benchmark-results JSON files)"
            )
        written = report.render_many(paths, args.out or DEFAULT_OUT, formats, console)
    for path in written:
        if path.suffix in (".md", ".html"):
            console.print(f"wrote {path}")
    pngs = [p for p in written if p.suffix == ".png"]
    if pngs:
        console.print(f"wrote {len(pngs)} plots under {pngs[0].parent}")
    return 0
