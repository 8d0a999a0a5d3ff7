"""gpu: the CC-mode costs a GPU microbenchmark can see (the seed's §VI hardware table).

In confidential-computing mode every host↔device copy goes through encrypted bounce buffers,
and kernel launches cross an encrypted command channel; compute itself should not change.
So we measure, through torch:

- H2D / D2H bandwidth (GB/s, 10^9 B/s) from pinned and from pageable host memory;
- kernel launch cost: enqueue time per tiny kernel, and launch + synchronize round trip;
- dense matmul throughput: BF16 (``torch.matmul``) and INT8 (``torch._int_mm``), TFLOPS/TOPS
  counted as 2·n³ per product.

GPU intervals are timed with CUDA events; host intervals with perf_counter_ns. Without torch or
a CUDA device the suite is skipped cleanly (exit code 0, no run directory).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from profiler.suites.base import SUITES, Rows, Suite, SuiteSkipped, Tick

STEPS = ("copy", "launch", "matmul")


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise SuiteSkipped("torch is not installed (pip install 'tee-llm-prof[gpu]')") from None
    if not torch.cuda.is_available():
        raise SuiteSkipped("no CUDA device (torch.cuda.is_available() is False)")
    return torch


def _event_seconds(torch: Any, fn: Any, iters: int) -> float:
    """Seconds per call of ``fn`` on the current stream, timed with CUDA events."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    end.synchronize()
    return float(start.elapsed_time(end)) / 1e3 / iters


def copy_bandwidth(torch: Any, nbytes: int, iters: int) -> dict[str, float]:
    dev = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    out: dict[str, float] = {}
    for kind in ("pinned", "pageable"):
        host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=(kind == "pinned"))
        host.fill_(1)
        for direction, fn in (
            ("h2d", lambda h=host: dev.copy_(h, non_blocking=True)),
            ("d2h", lambda h=host: h.copy_(dev, non_blocking=True)),
        ):
            fn()  # warm-up: first touch, driver staging buffers
            torch.cuda.synchronize()
            out[f"{direction}_{kind}"] = nbytes / _event_seconds(torch, fn, iters) / 1e9
    return out


def launch_latency(torch: Any, n: int) -> dict[str, float]:
    x = torch.zeros(1, device="cuda")
    for _ in range(50):
        x.add_(1)
    torch.cuda.synchronize()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        x.add_(1)
    enqueue_us = (time.perf_counter_ns() - t0) / 1e3 / n
    torch.cuda.synchronize()
    trips = []
    for _ in range(n):
        t = time.perf_counter_ns()
        x.add_(1)
        torch.cuda.synchronize()
        trips.append((time.perf_counter_ns() - t) / 1e3)
    return {"launch_enqueue": enqueue_us, "launch_sync_median": statistics.median(trips)}


def matmul_tflops(torch: Any, n: int, iters: int) -> dict[str, float]:
    out = {"matmul_bf16": _bf16_tflops(torch, n, iters)}
    try:
        out["matmul_int8"] = _int8_tops(torch, n, iters)
    except (AttributeError, RuntimeError) as exc:  # old torch or an unsupported layout
        print(f"warning: INT8 matmul skipped: {exc}", file=sys.stderr)
    torch.cuda.empty_cache()
    return out


def _bf16_tflops(torch: Any, n: int, iters: int) -> float:
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):  # warm-up: cuBLAS heuristics, clocks
        torch.matmul(a, b)
    return 2 * n**3 / _event_seconds(torch, lambda: torch.matmul(a, b), iters) / 1e12


def _int8_tops(torch: Any, n: int, iters: int) -> float:
    a = torch.randint(-128, 127, (n, n), device="cuda", dtype=torch.int8)
    b = torch.randint(-128, 127, (n, n), device="cuda", dtype=torch.int8)
    for _ in range(3):
        torch._int_mm(a, b)
    return 2 * n**3 / _event_seconds(torch, lambda: torch._int_mm(a, b), iters) / 1e12


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--copy-mb", type=int, default=256, help="bytes per copy in MiB (default 256)")
    p.add_argument("--copy-iters", type=int, default=20, help="copies per direction (default 20)")
    p.add_argument("--launches", type=int, default=2000, help="tiny kernels timed (default 2000)")
    p.add_argument("--matmul-n", type=int, default=8192, help="square matrix size (default 8192)")
    p.add_argument("--matmul-iters", type=int, default=50, help="products timed (default 50)")
    p.add_argument("--device", type=int, default=0, help="CUDA device index (default 0)")


def _prepare(args: argparse.Namespace) -> dict[str, Any]:
    torch = _torch()
    torch.cuda.set_device(args.device)
    props = torch.cuda.get_device_properties(args.device)
    return {
        "device": props.name, "device_index": args.device,
        "capability": f"{props.major}.{props.minor}", "memory_bytes": int(props.total_memory),
        "torch": torch.__version__, "cuda": torch.version.cuda,
        "copy_bytes": args.copy_mb << 20, "copy_iters": args.copy_iters, "launches": args.launches,
        "matmul_n": args.matmul_n, "matmul_iters": args.matmul_iters,
    }


def _measure(args: argparse.Namespace, rows: Rows, tick: Tick) -> None:
    torch = _torch()
    for name, gbps in copy_bandwidth(torch, args.copy_mb << 20, args.copy_iters).items():
        rows.add(name, gbps, unit="GB/s", direction="throughput", case=f"bytes={args.copy_mb << 20}")
    tick("copy")
    for name, us in launch_latency(torch, args.launches).items():
        rows.add(name, us, unit="us", direction="latency", case="kernel=add_")
    tick("launch")
    for name, tf in matmul_tflops(torch, args.matmul_n, args.matmul_iters).items():
        unit = "TOPS" if name.endswith("int8") else "TFLOPS"
        rows.add(name, tf, unit=unit, direction="throughput", case=f"n={args.matmul_n}")
    tick("matmul")


SUITES.add(
    "gpu",
    Suite(
        name="gpu",
        help="GPU microbenchmarks: H2D/D2H GB/s (pinned, pageable), launch latency, BF16/INT8 matmul",
        description="Measures through torch what CC mode can cost a GPU: host<->device copy "
        "bandwidth from pinned and pageable memory, kernel launch enqueue and round-trip "
        "latency, and BF16 / INT8 matmul throughput. Skipped cleanly (exit 0) without CUDA.\n\n"
        "example:\n  tee-llm-prof suite gpu --label on --out runs/ --repeats 3\n"
        "  tee-llm-prof suite gpu --matmul-n 4096 --copy-mb 64 --label off --out runs/",
        add_arguments=_add_arguments,
        prepare=_prepare,
        measure=_measure,
        steps=lambda a: len(STEPS),
    ),
)
