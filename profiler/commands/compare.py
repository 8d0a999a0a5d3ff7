"""`tee-llm-prof compare ON OFF --out DIR`: overheads with 95% CIs, the paper view, the volume law."""

from __future__ import annotations

import argparse
from pathlib import Path

from profiler.errors import UserError

DEFAULT_BINS = 5  # profiler.analysis.token_volume.DEFAULT_BINS (not imported: --help stays fast)

DESCRIPTION = """\
Compare TEE-on runs against TEE-off runs. For TTFT, TPOT, ITL, E2EL (mean, p50, p90, p99), TPS,
QPS and goodput (when the workload has SLOs) it prints on, off, the overhead in % (positive = the
TEE costs) and a 95% CI; * marks an overhead whose CI excludes 0. One run per leg: bootstrap over
requests, paired when both legs sent the same prompts in the same order. Several runs per leg
(repetitions): the run is the unit, a Welch t-interval on per-run values. Writes
DIR/comparison.json (see docs/analysis.md for the statistics).

ON and OFF are run directories or folders of runs (every run under them is a repetition); add
more with --on/--off.

examples:
  tee-llm-prof compare runs/ON_RUN runs/OFF_RUN --out cmp/
  tee-llm-prof import vllm-bench tee.json.gz --label on --out runs/on
  tee-llm-prof import vllm-bench base.json.gz --label off --out runs/off
  tee-llm-prof compare runs/on runs/off --out cmp/ --paper-compat
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("on_run", type=Path, metavar="ON", help="TEE-on run directory (or a folder of runs)")
    p.add_argument("off_run", type=Path, metavar="OFF", help="TEE-off run directory (or a folder of runs)")
    p.add_argument(
        "--on", type=Path, action="append", default=[], metavar="PATH", help="another TEE-on run (repeatable)"
    )
    p.add_argument(
        "--off",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="another TEE-off run (repeatable)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="where comparison.json is written")
    p.add_argument(
        "--paper-compat",
        action="store_true",
        help="add the arXiv:2409.03992 view (its own ITL/TPS definitions)",
    )
    p.add_argument(
        "--aa", action="store_true", help="both legs are the same endpoint (an A/A noise-floor check)"
    )
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument(
        "--seed", type=int, default=0, help="bootstrap seed (default 0): same input + seed = same output"
    )
    p.add_argument(
        "--no-report",
        action="store_true",
        help="skip writing report.md, report.html and plots/ into DIR",
    )
    p.add_argument(
        "--bins", type=int, default=DEFAULT_BINS, help=f"token-volume quantile bins (default {DEFAULT_BINS})"
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from profiler.analysis.dispatch import compare_dirs
    from profiler.report import render

    if args.n_boot < 100:
        raise UserError("--n-boot must be ≥ 100 for a 95% interval")
    if args.bins < 1:
        raise UserError("--bins must be ≥ 1")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a directory")
    compare_dirs(
        [args.on_run, *args.on], [args.off_run, *args.off], out,
        paper_compat=args.paper_compat, aa=args.aa, n_boot=args.n_boot, seed=args.seed, n_bins=args.bins,
    )
    # the same view `tee-llm-prof report DIR` prints, from the comparison.json just written
    formats = ("console",) if args.no_report else ("console", "md", "html", "png")
    written = render(out, formats=formats, console=Console(), paper_compat=args.paper_compat)
    err = Console(stderr=True)
    err.print(f"wrote {out / 'comparison.json'}")
    if written:
        err.print(f"report: {out / 'report.html'} ({len(written)} files)")
    return 0
