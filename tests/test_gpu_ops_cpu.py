"""The torch calls of the gpu suite, run for real on the CPU (no GPU here): shapes, types, refusals.

On a GPU host the gpu-marked test in tests/integration/test_gpu_suite.py runs the same code on CUDA.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from profiler.gpu.bench import copy_sweep, launches, matmuls
from profiler.gpu.ops import TorchOps, Unsupported
from profiler.gpu.timing import Policy

pytestmark = pytest.mark.slow  # importing torch takes seconds
P = Policy(min_batch_ns=2_000_000, batches=2)


def test_copies_kernels_and_refusals_on_the_cpu() -> None:
    ops = TorchOps("cpu")
    assert ops.facts()["device"] == "cpu" and ops.event_timer() is None
    ops.reserve(1 << 16)
    fn = ops.copy("h2d", "pageable", 4096, blocking=True)
    fn()
    assert int(ops._dev[:4096].sum()) == 4096  # the host buffer's ones arrived
    with pytest.raises(Unsupported, match="pinned"):
        ops.copy("h2d", "pinned", 4096, blocking=False)
    with pytest.raises(ValueError):
        ops.copy("d2d", "pageable", 4096, blocking=False)
    assert ops.host_register() == (False, "no CUDA device")
    k = ops.tiny_kernel()
    for _ in range(3):
        k()
    with pytest.raises(Unsupported, match="CUDA graphs"):
        ops.capture_graph(20)


@pytest.mark.parametrize(("dtype", "out"), [("bf16", "bfloat16"), ("fp8", "bfloat16"), ("int8", "int32")])
def test_matmul_calls_are_valid_torch(dtype: str, out: str) -> None:
    ops = TorchOps("cpu")
    try:
        fn = ops.matmul(dtype, 64)
    except Unsupported as exc:  # a torch build without this CPU kernel: refused with the reason
        assert dtype in str(exc)
        return
    res = fn()
    assert tuple(res.shape) == (64, 64) and str(res.dtype) == f"torch.{out}"


def test_bench_over_the_cpu_ops() -> None:
    ops = TorchOps("cpu")
    sweep = copy_sweep(ops, [4096, 65536, 1 << 20], P)
    pinned = {f"{d}_pinned_{m}" for d in ("h2d", "d2h") for m in ("pipelined", "sync")}
    assert set(sweep.unsupported) == pinned
    assert {r.metric for r in sweep.rows} >= {"h2d_pageable_sync", "d2h_pageable_pipelined"}
    assert all(r.value > 0 and r.params["events"] == "no_events" for r in sweep.rows if "bytes" in r.params)
    lrows = launches(ops, P).rows
    assert all(r.value > 0 for r in lrows)
    mrows = matmuls(ops, P, 128, "cpu", dtypes=["bf16"]).rows
    assert [r.metric for r in mrows] == ["matmul_bf16"] and mrows[0].value > 0
    ops.release()
