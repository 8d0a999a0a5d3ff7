"""`tee-llm-prof compare ON OFF --out DIR`: overheads with 95% CIs, the paper view, the volume law."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from profiler.analysis.compare import compare_runs
from profiler.analysis.token_volume import DEFAULT_BINS
from profiler.commands import COMMANDS, Command
from profiler.errors import UserError

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
    if args.n_boot < 100:
        raise UserError("--n-boot must be ≥ 100 for a 95% interval")
    if args.bins < 1:
        raise UserError("--bins must be ≥ 1")
    result = compare_runs(
        [args.on_run, *args.on],
        [args.off_run, *args.off],
        args.out,
        paper_compat=args.paper_compat,
        aa=args.aa,
        n_boot=args.n_boot,
        seed=args.seed,
        n_bins=args.bins,
    )
    print_comparison(result, Console())
    err = Console(stderr=True)
    err.print(f"wrote {Path(args.out) / 'comparison.json'}")
    if not args.no_report:
        from profiler.report import render  # matplotlib loads only when a report is drawn

        written = render(Path(args.out), formats=("md", "html", "png"), paper_compat=args.paper_compat)
        if written:
            err.print(f"report: {Path(args.out) / 'report.html'} ({len(written)} files)")
    return 0


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and abs(x) >= 10**digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def _pct(x: Any) -> str:
    return "—" if x is None else f"{x:+.2f}%"


def print_comparison(result: dict[str, Any], console: Console) -> None:
    method = result["method"]
    title = f"TEE overhead — {result.get('model') or 'model ?'}" + (
        "  (A/A: same endpoint both legs)" if result.get("aa") else ""
    )
    table = Table(
        title=title,
        caption=f"bootstrap: {method['bootstrap']}, {method['n_boot']} resamples, "
        f"{int(method['confidence'] * 100)}% CI; throughput CI: {method['throughput']}; * = CI excludes 0",
    )
    for col, justify in (
        ("metric", "left"),
        ("on", "right"),
        ("off", "right"),
        ("overhead", "right"),
        ("95% CI", "right"),
        ("n on/off", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in result["metrics"]:
        mark = " *" if row["significant"] else ""
        ci = f"[{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]" if row["ci_low"] is not None else "n/a"
        style = "bold" if row["significant"] else None
        table.add_row(
            f"{row['metric']} ({row['unit']})",
            _fmt(row["on"]),
            _fmt(row["off"]),
            _pct(row["overhead_pct"]) + mark,
            ci,
            f"{row['n_on']}/{row['n_off']}",
            style=style,
        )
    console.print(table)
    paper = result.get("paper_compat")
    if paper:
        pt = Table(
            title="Paper-compatible view (arXiv:2409.03992 definitions, NOT standard metrics)",
            caption=paper["label"],
        )
        for col in (
            "",
            "samples",
            "TTFT s",
            "'ITL' s",
            "'TPS'",
            "short n / tps",
            "medium n / tps",
            "long n / tps",
        ):
            pt.add_column(col, justify="right")
        for leg in ("on", "off"):
            v = paper[leg]
            b = v["buckets"]
            pt.add_row(
                leg,
                str(v["samples"]),
                _fmt(v["ttft_s"], 6),
                _fmt(v["itl_s"], 6),
                _fmt(v["tps"], 6),
                *(f"{b[k]['count']} / {_fmt(b[k]['tps'], 5)}" for k in ("short", "medium", "long")),
            )
        console.print(pt)
    _print_volume(result["token_volume"], console)
    for w in result["warnings"]:
        leg = escape(f" [{w['leg']}]") if w.get("leg") else ""
        console.print(f"[yellow]warning{leg}:[/yellow] {escape(w['message'])}")


def _print_volume(tv: dict[str, Any], console: Console) -> None:
    if tv["bins"]:
        bt = Table(title=f"Overhead of mean {tv['metric']} by tokens per request (quantile bins)")
        for col in ("tokens", "n on/off", "overhead", "95% CI"):
            bt.add_column(col, justify="right")
        for b in tv["bins"]:
            ci = f"[{b['ci_low']:+.2f}, {b['ci_high']:+.2f}]" if b["ci_low"] is not None else "n/a"
            bt.add_row(
                f"{b['lo']:.0f}–{b['hi']:.0f}", f"{b['n_on']}/{b['n_off']}", _pct(b["overhead_pct"]), ci
            )
        console.print(bt)
    fit = tv.get("fit")
    if not fit:
        console.print(f"token-volume law: {tv.get('reason')}")
        return
    lo, hi = fit["token_range"]
    below5 = fit["tokens_below_5pct"]
    below1 = fit["tokens_below_1pct"]
    ci = fit["change_per_10k_tokens_ci"]
    console.print(
        f"token-volume law ({fit['form']}, R² on {fit['r2_on']:.3f} / off {fit['r2_off']:.3f}; "
        f"better fit on bins: {fit['better_fit_on_bins']}): "
        f"overhead {_pct(fit['overhead_at_min_pct'])} at {lo:.0f} tokens → "
        f"{_pct(fit['overhead_at_max_pct'])} at {hi:.0f}; < 5% from "
        f"{_from(below5, lo)}, < 1% from {_from(below1, lo)}; "
        f"{_pct(fit['change_per_10k_tokens_pct'])} pts per +10k tokens"
        + (f" (CI {ci[0]:+.2f}…{ci[1]:+.2f})" if ci else "")
        + (" [extrapolated beyond the data]" if fit["extrapolated"] else "")
    )


def _from(threshold: float | None, smallest: float) -> str:
    if threshold is None:
        return "never within the data range"
    return "every size in the data" if threshold <= smallest else f"{threshold:.0f} tokens"


COMMANDS.add(
    "compare",
    Command(
        name="compare",
        help="TEE overhead with 95% CIs between TEE-on and TEE-off runs",
        add_arguments=add_arguments,
        run=run,
        description=DESCRIPTION,
    ),
)
