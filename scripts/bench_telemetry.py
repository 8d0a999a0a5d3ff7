#!/usr/bin/env python3
"""What telemetry costs the client host: prints figures, asserts nothing.

- parsing one real vLLM /metrics page (tests/fixtures/vllm_metrics.txt) and filtering it;
- one NVML sampler tick for one GPU, over the recorded H100 answers (our Python overhead only:
  real NVML calls add the driver's time, which scripts/device_check.sh measures on a GPU);
- one host sampler tick (/proc reads);
- a 5 s TelemetrySession at the default intervals: CPU ms and % of one core per thread.

    .venv/bin/python scripts/bench_telemetry.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profiler.telemetry import TelemetrySession  # noqa: E402
from profiler.telemetry.host import HostSampler  # noqa: E402
from profiler.telemetry.nvml import REPLAY_ENV  # noqa: E402
from profiler.telemetry.replay import ReplayNvml  # noqa: E402
from profiler.telemetry.sampler import NvmlSampler  # noqa: E402
from profiler.telemetry.scrape import KEEP, keep, parse_prometheus  # noqa: E402

FIX = ROOT / "tests" / "fixtures"


def per_call_us(fn: Callable[[], object], n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t0 = time.thread_time_ns()
        fn()
        times.append((time.thread_time_ns() - t0) / 1e3)
    return statistics.median(times), max(times)


def main() -> None:
    text = (FIX / "vllm_metrics.txt").read_text()
    med, worst = per_call_us(lambda: keep(parse_prometheus(text)), 200)
    print(f"parse+filter real vLLM /metrics ({len(text.splitlines())} lines): "
          f"median {med:.0f} µs CPU, max {worst:.0f} µs")
    med, worst = per_call_us(lambda: parse_prometheus(text, KEEP), 200)
    print(f"parse with the scraper's name filter: median {med:.0f} µs CPU, max {worst:.0f} µs")

    s = NvmlSampler(interval_s=0.1, gpm_every_s=0.1,
                    nvml=ReplayNvml.from_file(FIX / "nvml" / "h100_cc_off.json"))
    s.setup()
    def tick() -> None:
        s.tick(time.perf_counter_ns())
        s.ticks += 1

    med, worst = per_call_us(tick, 500)
    print(f"NVML sampler tick, 1 GPU, replayed answers (our overhead): median {med:.0f} µs CPU, "
          f"max {worst:.0f} µs")

    h = HostSampler()
    h.setup()
    med, worst = per_call_us(lambda: h.tick(time.perf_counter_ns()), 200)
    print(f"host sampler tick (/proc): median {med:.0f} µs CPU, max {worst:.0f} µs")

    os.environ[REPLAY_ENV] = str(FIX / "nvml" / "h100_cc_on.json")
    with TelemetrySession() as tele:
        time.sleep(5)
    for name, cost in tele.summary()["cost"]["threads"].items():
        print(f"session thread {name}: {cost['ticks']} ticks, {cost['cpu_ms']} ms CPU over "
              f"{cost['wall_s']} s = {cost['cpu_pct_of_one_core']}% of one core")


if __name__ == "__main__":
    main()
