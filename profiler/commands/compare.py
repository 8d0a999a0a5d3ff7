"""`tee-llm-prof compare ON OFF --out DIR`: overheads with 95% CIs, the paper view, the volume law."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from profiler.errors import UserError

if TYPE_CHECKING:
    from profiler.analysis.load_curve import LoadSplit

DEFAULT_BINS = 5  # profiler.analysis.token_volume.DEFAULT_BINS (not imported: --help stays fast)
DEFAULT_TTFT_LIMIT = 10.0  # profiler.analysis.queueing.DEFAULT_LIMIT_PCT

DESCRIPTION = """\
Compare TEE-on runs against TEE-off runs. For TTFT, TPOT, ITL, E2EL (mean, p50, p90, p99), TPS,
QPS and goodput (when the workload has SLOs) it prints on, off, the overhead in % (positive = the
TEE costs) and a 95% CI; * marks an overhead whose CI excludes 0. Runs a profile made in blocks
(one run of each leg side by side, same prompts): the block is the unit, the overhead is the
geometric mean of the per-block ratios with a paired t-interval, and the power table says the
smallest overhead these blocks can see. Several runs per leg without blocks: a Welch t-interval
on per-run values. One run per leg: bootstrap over requests, paired when both legs sent the
same prompts in the same order. Writes DIR/comparison.json (docs/analysis.md: the statistics).

ON and OFF are run directories or folders of runs (every run under them is a repetition); add
more with --on/--off.

Load points: when a leg holds runs at several load points (request rate, then concurrency, as
each run's manifest records them), runs are paired by load point and each pair is compared as
above into DIR/<point>/comparison.json (rate=1, rate=inf, …). DIR/load_curve.json then holds,
per point, the offered load, each leg's achieved throughput and every headline overhead with
its CI, the points only one leg measured, and a queueing model of TTFT against load fitted to
each leg's capacity (its saturated throughput): predicted vs measured TTFT overhead per point,
and the load at which the TEE's TTFT cost crosses --ttft-overhead-limit (docs/load_curve.md).

examples:
  tee-llm-prof compare runs/ON_RUN runs/OFF_RUN --out cmp/
  tee-llm-prof import vllm-bench tee.json.gz --label on --out runs/on
  tee-llm-prof import vllm-bench base.json.gz --label off --out runs/off
  tee-llm-prof compare runs/on runs/off --out cmp/ --paper-compat
  tee-llm-prof import vllm-bench tee_qps_1.json.gz tee_qps_inf.json.gz --label on --out runs/on
  tee-llm-prof import vllm-bench base_qps_1.json.gz base_qps_inf.json.gz --label off --out runs/off
  tee-llm-prof compare runs/on runs/off --out cmp/ --ttft-overhead-limit 5    # per point + load curve
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
    p.add_argument(
        "--ttft-overhead-limit", type=float, default=DEFAULT_TTFT_LIMIT, metavar="PCT",
        help="several load points: the TTFT overhead (%%) whose crossing load the queueing model "
        f"reports (default {DEFAULT_TTFT_LIMIT:g})",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from profiler.analysis.dispatch import compare_dirs, kind_of
    from profiler.analysis.load_curve import split
    from profiler.report import render

    if args.n_boot < 100:
        raise UserError("--n-boot must be ≥ 100 for a 95% interval")
    if args.bins < 1:
        raise UserError("--bins must be ≥ 1")
    if not math.isfinite(args.ttft_overhead_limit):
        raise UserError("--ttft-overhead-limit must be a finite percentage")
    from profiler.experiment.preflight import check_writable

    out = check_writable(Path(args.out))
    on, off = [args.on_run, *args.on], [args.off_run, *args.off]
    options = dict(paper_compat=args.paper_compat, aa=args.aa, n_boot=args.n_boot, seed=args.seed,
                   n_bins=args.bins)
    formats = ("console",) if args.no_report else ("console", "md", "html", "png")
    if kind_of([*on, *off]) == "llm" and (points := split(on, off)).several:
        return _load_points(points, out, formats, args.ttft_overhead_limit, options)
    compare_dirs(on, off, out, **options)
    # the same view `tee-llm-prof report DIR` prints, from the comparison.json just written
    written = render(out, formats=formats, console=Console(), paper_compat=args.paper_compat)
    err = Console(stderr=True)
    err.print(f"wrote {out / 'comparison.json'}")
    if written:
        err.print(f"report: {out / 'report.html'} ({len(written)} files)")
    return 0


def _load_points(
    points: LoadSplit, out: Path, formats: Sequence[str], limit: float, options: dict[str, Any]
) -> int:
    """Several load points: one comparison per point, the load curve, and their reports."""
    from rich.console import Console

    from profiler.analysis.load_curve import compare_load_points
    from profiler.report import render

    curve = compare_load_points(points, out, limit_pct=limit, **options)
    files = [f for f in formats if f != "console"]
    for point in curve.points:  # each point's full report lives in its own directory
        if files and point.comparison:
            render(out / point.comparison, formats=files, paper_compat=bool(options.get("paper_compat")))
    written = render(out, formats=formats, console=Console())
    err = Console(stderr=True)
    err.print(f"wrote {out / 'load_curve.json'} and {len(curve.points)} comparisons "
              f"({', '.join(str(out / p.name / 'comparison.json') for p in curve.points)})")
    if written:
        err.print(f"report: {out / 'report.html'} ({len(written)} files)")
    return 0
