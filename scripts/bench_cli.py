"""How fast the CLI starts: `tee-llm-prof --version`, `--help` and a command's `--help`.

    .venv/bin/python scripts/bench_cli.py [--repeats 20]

Each case runs as a fresh process (what a user waits for), several times; the script prints
min / median / max wall time per case against the 0.3 s target for --version and --help.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 0.3
CASES = (
    ("--version", ["--version"], True),
    ("--help", ["--help"], True),
    ("profile --help", ["profile", "--help"], False),
    ("compare --help", ["compare", "--help"], False),
)


def once(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "profiler.cli", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15)
    opts = ap.parse_args()
    python = [sys.executable, "-c", "pass"]
    base = []
    for _ in range(opts.repeats):
        t0 = time.perf_counter()
        subprocess.run(python, check=True)
        base.append(time.perf_counter() - t0)
    print(f"bare interpreter start: median {statistics.median(base) * 1e3:.0f} ms (for reference)")
    print(f"{'case':18} {'min':>8} {'median':>8} {'max':>8}  target")
    failed = False
    for name, args, gated in CASES:
        times = [once(args) for _ in range(opts.repeats)]
        med = statistics.median(times)
        verdict = (("met" if med < TARGET_S else "NOT met") + f" (< {TARGET_S} s)") if gated else "-"
        failed |= gated and med >= TARGET_S
        print(f"{name:18} {min(times) * 1e3:7.0f}ms {med * 1e3:7.0f}ms {max(times) * 1e3:7.0f}ms  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
