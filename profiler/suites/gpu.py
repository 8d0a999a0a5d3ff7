"""gpu: what CC mode costs a GPU, measured so that the figures stay true inside a CVM.

In confidential-computing mode every host↔device copy goes through an encrypted bounce buffer,
and kernel launches cross an encrypted command channel; compute itself should not change. The
suite measures, through torch (the logic lives in :mod:`profiler.gpu`):

- copies: GB/s for H2D and D2H, pinned (cudaHostAlloc) and pageable host memory, pipelined
  (many async copies, one synchronize) and synchronous (each copy waits), over a size sweep
  (4 KiB … 1 GiB by default), plus a fit of time = latency + bytes / bandwidth per configuration:
  the latency is the fixed toll a copy pays whatever its size;
- launches: tiny-kernel cost pipelined and as a launch + synchronize round trip; CUDA-graph
  capture (+ instantiate) and replay time of a small graph;
- matmul: BF16, FP8 (``torch._scaled_mm``) and INT8 (``torch._int_mm``) TFLOPS/TOPS where the
  GPU supports them, and the share of the vendor's published dense peak.

Every GPU interval is host time (``perf_counter_ns``) around a synchronize, over enough
iterations for the batch to last ``--min-batch-ms``; CUDA events over the same batch are a
cross-check whose verdict each row carries (``events``: agree / event_disagrees /
event_negative / event_zero). The CC state is read from NVML before anything is measured and
stored in the manifest and, as ``cc``, with every row. Without torch or a CUDA device the suite
is skipped cleanly (exit code 0, no run directory).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from profiler.suites.base import SUITES, Rows, Suite, SuiteSkipped, Tick, size_bytes

STEP_NAMES = ("copy", "launch", "graph", "matmul")
_OPS = "_gpu_ops"  # the TorchOps prepare() made, carried to measure() on the namespace
_CC = "_gpu_cc"


def _steps(text: str) -> list[str]:
    names = [s.strip() for s in str(text).split(",") if s.strip()]
    bad = [s for s in names if s not in STEP_NAMES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"steps are a comma list of {','.join(STEP_NAMES)}, got {text!r}")
    return names


def _dtypes(text: str) -> list[str]:
    from profiler.gpu.bench import MATMUL_DTYPES

    names = [s.strip() for s in str(text).split(",") if s.strip()]
    if not names or any(s not in MATMUL_DTYPES for s in names):
        raise argparse.ArgumentTypeError(f"dtypes are a comma list of {','.join(MATMUL_DTYPES)}")
    return names


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", type=int, default=0, help="CUDA device index (default 0)")
    p.add_argument("--steps", type=_steps, default=list(STEP_NAMES),
                   help=f"what to measure, comma list (default {','.join(STEP_NAMES)})")
    p.add_argument("--copy-min", type=size_bytes, default=4 << 10, help="smallest copy (default 4K)")
    p.add_argument("--copy-max", type=size_bytes, default=1 << 30, help="largest copy (default 1G)")
    p.add_argument("--copy-factor", type=int, default=4, help="size ladder step (default 4: 4K, 16K, …)")
    p.add_argument("--copy-budget-s", type=float, default=180.0,
                   help="stop the size sweep (largest sizes last) after this many seconds (default 180)")
    p.add_argument("--min-batch-ms", type=float, default=20.0,
                   help="a timed batch lasts at least this long (default 20 ms; matmul 2.5x)")
    p.add_argument("--batches", type=int, default=3, help="timed batches per figure, median kept (default 3)")
    p.add_argument("--graph-kernels", type=int, default=20,
                   help="tiny kernels in the captured graph (default 20)")
    p.add_argument("--matmul-n", type=int, default=8192, help="square matrix size (default 8192)")
    p.add_argument("--matmul-dtypes", type=_dtypes, default=["bf16", "fp8", "int8"],
                   help="matmul types, comma list of bf16,fp8,int8 (default all; the unsupported "
                   "ones are recorded with the reason)")


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise SuiteSkipped("torch is not installed (pip install 'tee-llm-prof[gpu]')") from None
    if not torch.cuda.is_available():
        raise SuiteSkipped("no CUDA device (torch.cuda.is_available() is False)")
    return torch


def open_ops(device: int) -> tuple[Any, str | None]:
    """(TorchOps on ``device``, its UUID); SuiteSkipped without torch or CUDA. Tests replace it."""
    from profiler.gpu.ops import TorchOps

    torch = _torch()
    props = torch.cuda.get_device_properties(device)
    return TorchOps(device), str(getattr(props, "uuid", "")) or None


def _policy(args: argparse.Namespace, scale: float = 1.0) -> Any:
    from profiler.gpu.timing import Policy

    return Policy(min_batch_ns=int(args.min_batch_ms * scale * 1e6), batches=args.batches)


def _prepare(args: argparse.Namespace) -> dict[str, Any]:
    from profiler.errors import UserError
    from profiler.gpu.bench import copy_sizes
    from profiler.gpu.cc import read_cc
    from profiler.gpu.ops import Unsupported

    if args.batches < 1 or args.min_batch_ms <= 0 or args.matmul_n < 16 or args.graph_kernels < 1:
        raise UserError("--batches, --min-batch-ms, --graph-kernels must be positive and --matmul-n >= 16")
    try:
        sizes = copy_sizes(args.copy_min, args.copy_max, args.copy_factor)
    except ValueError as exc:
        raise UserError(f"copy sizes: {exc}") from None
    ops, uuid = open_ops(args.device)
    cc = read_cc(args.device, uuid)  # before any GPU work is measured
    ok, how = ops.host_register()
    support: dict[str, str] = {}
    if "matmul" in args.steps:
        for dtype in args.matmul_dtypes:
            try:
                ops.matmul(dtype, 64)
                support[dtype] = "ok"
            except Unsupported as exc:
                support[dtype] = f"unsupported: {exc}"
        ops.release()
    setattr(args, _OPS, ops)
    setattr(args, _CC, cc["cc"])
    return {
        **ops.facts(), "device_index": args.device, "cc": cc, "steps": args.steps,
        "timing": _policy(args).describe(), "copy_sizes": sizes, "copy_budget_s": args.copy_budget_s,
        "host_register": {"ok": ok, "detail": how}, "graph_kernels": args.graph_kernels,
        "matmul_n": args.matmul_n, "matmul_support": support,
    }


def _copy(ops: Any, args: argparse.Namespace) -> Any:
    from profiler.gpu.bench import copy_sizes, copy_sweep

    deadline = ops.now_ns() + int(args.copy_budget_s * 1e9)
    return copy_sweep(ops, copy_sizes(args.copy_min, args.copy_max, args.copy_factor), _policy(args),
                      deadline_ns=deadline)


def _launch(ops: Any, args: argparse.Namespace) -> Any:
    from profiler.gpu.bench import launches

    return launches(ops, _policy(args))


def _graph(ops: Any, args: argparse.Namespace) -> Any:
    from profiler.gpu.bench import graphs

    return graphs(ops, _policy(args), kernels=args.graph_kernels)


def _matmul(ops: Any, args: argparse.Namespace) -> Any:
    from profiler.gpu.bench import matmuls

    # longer batches: a large product runs ~1 ms, and clocks settle over tens of ms
    return matmuls(ops, _policy(args, 2.5), args.matmul_n, ops.facts().get("device", ""),
                   dtypes=args.matmul_dtypes)


STEPS: dict[str, Callable[[Any, argparse.Namespace], Any]] = {
    "copy": _copy, "launch": _launch, "graph": _graph, "matmul": _matmul}


def _measure(args: argparse.Namespace, rows: Rows, tick: Tick) -> None:
    ops, cc = getattr(args, _OPS), getattr(args, _CC)
    for step in args.steps:
        t0 = time.perf_counter_ns()
        outcome = STEPS[step](ops, args)
        for m in outcome.rows:
            rows.add(m.metric, m.value, unit=m.unit, direction=m.direction, case=m.case, cc=cc,
                     step=step, **m.params)
        for what, why in outcome.unsupported.items():
            print(f"warning: gpu {step}: {what} not measured: {why}", file=sys.stderr)
        for why in outcome.skipped:
            print(f"warning: gpu {step}: {why}", file=sys.stderr)
        ops.release()
        tick(f"{step} ({(time.perf_counter_ns() - t0) / 1e9:.0f} s)")


SUITES.add(
    "gpu",
    Suite(
        name="gpu",
        help="GPU under CC: copy GB/s and fixed cost by size, launch and graph latency, BF16/FP8/INT8 matmul",
        description="Measures through torch what CC mode can cost a GPU: H2D/D2H copy bandwidth by "
        "size (pinned and pageable, pipelined and synchronous) with a latency + bandwidth fit, "
        "kernel launch cost pipelined and round trip, CUDA-graph capture and replay, and "
        "BF16/FP8/INT8 matmul throughput against the vendor's published peak. Timed by the host "
        "clock around a synchronize; CUDA events are a cross-check each row reports. The CC "
        "state (NVML) is recorded with every row. Skipped cleanly (exit 0) without CUDA.\n\n"
        "example:\n  tee-llm-prof suite gpu --label on --out runs/ --repeats 3\n"
        "  tee-llm-prof suite gpu --steps copy --copy-max 64M --label off --out runs/",
        add_arguments=_add_arguments,
        prepare=_prepare,
        measure=_measure,
        steps=lambda a: len(a.steps),
    ),
)
