"""Time the analysis hot spots: 2000 bootstrap resamples of 1000 requests, and a full comparison.

    .venv/bin/python scripts/bench_analysis.py [--requests 1000] [--n-boot 2000]

Prints figures; asserts nothing (timing targets are read, not tested: CI machines differ).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from profiler.analysis import stats
from profiler.analysis.compare import compare_runs
from tests.support import synthetic_runs as syn


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--n-boot", type=int, default=2000)
    args = ap.parse_args()
    n, b = args.requests, args.n_boot
    rng = np.random.default_rng(0)
    x = rng.lognormal(4, 0.5, n)
    w = stats.weights(rng, n, b)
    print(f"resample counts ({b} x {n}):        {best_of(lambda: stats.weights(rng, n, b)) * 1e3:8.1f} ms")
    print(f"mean of {b} resamples:              {best_of(lambda: stats.weighted_mean(w, x)) * 1e3:8.1f} ms")
    pct = best_of(lambda: stats.weighted_percentiles(w, x, (50, 90, 99)))
    print(f"p50/p90/p99 of {b} resamples:       {pct * 1e3:8.1f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        ins, outs = rng.integers(10, 2000, n), rng.integers(2, 200, n)
        on = syn.write(Path(tmp), "on", syn.frame(ins, outs, fixed_ms=60, per_in_ms=0.1, per_out_ms=10.5))
        off = syn.write(Path(tmp), "off", syn.frame(ins, outs, fixed_ms=50, per_in_ms=0.1, per_out_ms=10.0))
        gaps = int(outs.sum() - n)
        t = best_of(lambda: compare_runs(on, off, Path(tmp) / "cmp", n_boot=b), repeat=2)
        print(
            f"compare_runs ({n} req/leg, {gaps} ITL gaps/leg, {b} resamples, all metrics + fit): {t:6.2f} s"
        )


if __name__ == "__main__":
    main()
