"""Precision of the experiment, printed (DESIGN §4; not a timed test).

    .venv/bin/python scripts/bench_precision.py [--budget 150] [--aa-budget 90]

1. Two ground-truth servers, TTFT 50 ms / ITL 10 ms against 51.5 ms / 10.3 ms (+3% on both),
   concurrency 16, 64 output tokens: a target-precision profile (±1 point, two-stage rule) within
   ``--budget`` seconds of measurement. Target: mean TPOT and mean TTFT CIs ≤ ±1 point, containing
   the truth.
2. One server as both legs (A/A) for ``--aa-budget`` seconds. Target: every CI contains 0.

The truth is taken from the servers' own logs (what they really did: a loaded host stretches a
configured ITL a little), and also stated as configured.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from profiler.analysis.compare import compare_runs  # noqa: E402
from profiler.config import WorkloadSpec  # noqa: E402
from profiler.experiment.legs import Leg  # noqa: E402
from profiler.experiment.precision import TargetPrecision  # noqa: E402
from profiler.experiment.profile import create_profile, llm_executor, run_profile  # noqa: E402
from profiler.experiment.request import ClientOptions  # noqa: E402
from tests.support.servers import gt_server, gt_tpot_ms  # noqa: E402

WL = WorkloadSpec(
    num_requests=64, concurrency=16, input_len=32, output_len=64, warmup=16, request_rates=[math.inf]
)
KEYS = ("mean_ttft_ms", "mean_tpot_ms", "steady_output_throughput")


def profile(root: Path, legs: list[Leg], target: float, budget: float) -> tuple[object, float, int]:
    writer = create_profile(root, "p", model="gt", legs=legs, workload=WL)
    quiet = Console(file=io.StringIO())
    precision = TargetPrecision(
        target,
        KEYS[:2],
        pilot=8,
        budget_s=budget,
        max_blocks=400,
        pairs=[("on", "off")],
        console=Console(stderr=True),
    )
    t0 = time.monotonic()
    run_profile(
        writer,
        legs,
        WL,
        llm_executor("gt", ClientOptions(progress=False)),
        console=quiet,
        precision=precision,
    )
    took = time.monotonic() - t0
    point = writer.index.load_points[0]
    entry = point.precision
    cmp = compare_runs(
        [writer.root / r for r in point.runs["on"]],
        [writer.root / r for r in point.runs["off"]],
        root / "cmp",
        n_boot=200,
        pilot=entry.pilot_blocks if entry else None,
    )
    return cmp, took, entry.blocks_run if entry else 0


def show(cmp: object, truth: dict[str, float]) -> bool:
    ok = True
    for key in KEYS:
        row = cmp.row(key)  # type: ignore[attr-defined]
        t = truth.get(key)
        inside = t is None or (row.ci_low <= t <= row.ci_high)
        half = (row.ci_high - row.ci_low) / 2
        ok &= inside and (key not in truth or half <= 1.0 or truth[key] == 0)
        print(
            f"  {key:26} {row.overhead_pct:+7.2f}%  [{row.ci_low:+.2f}, {row.ci_high:+.2f}]  ±{half:.2f}"
            + (f"  truth {t:+.2f}%: {'inside' if inside else 'OUTSIDE'}" if t is not None else "")
        )
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=150.0)
    ap.add_argument("--aa-budget", type=float, default=90.0)
    opts = ap.parse_args()
    good = True
    with tempfile.TemporaryDirectory() as tmp:
        with (
            gt_server("--ttft-ms", "51.5", "--itl-ms", "10.3") as on_url,
            gt_server("--ttft-ms", "50", "--itl-ms", "10") as off_url,
        ):
            legs = [Leg("on", on_url, "gt-model"), Leg("off", off_url, "gt-model")]
            cmp, took, blocks = profile(Path(tmp) / "ab", legs, 1.0, opts.budget)
            g_on, g_off = gt_tpot_ms(on_url), gt_tpot_ms(off_url)
        print(f"1. +3% servers: {blocks} blocks in {took:.0f} s (budget {opts.budget:g} s)")
        print(f"   the servers really did: mean gap between writes {g_on:.3f} vs {g_off:.3f} ms")
        truth = {"mean_tpot_ms": 100 * (g_on / g_off - 1)}
        good &= show(cmp, truth)
        print(
            "   (configured: +3.00% on TTFT and TPOT; TTFT truth includes the network and client, "
            "so only TPOT is checked against the servers' logs)"
        )
        with gt_server("--ttft-ms", "50", "--itl-ms", "10") as url:
            legs = [Leg("on", url, "gt-model"), Leg("off", url, "gt-model")]
            cmp, took, blocks = profile(Path(tmp) / "aa", legs, 0.01, opts.aa_budget)
        print(f"2. A/A, one server: {blocks} blocks in {took:.0f} s (budget {opts.aa_budget:g} s)")
        good &= show(cmp, {k: 0.0 for k in KEYS})
    print("targets met" if good else "targets NOT met")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
