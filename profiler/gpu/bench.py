"""The gpu suite's measurements over an :class:`Ops` (torch on a GPU, a simulation in tests).

Each function returns :class:`Measurement` records; the suite turns them into result rows and
adds the CC state to each. Every interval comes from :func:`profiler.gpu.timing.measure`: host
clock around a synchronize, CUDA events as a cross-check.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from profiler.gpu.fit import fit_copy_times
from profiler.gpu.ops import Graph, Unsupported
from profiler.gpu.peaks import spec_peak
from profiler.gpu.timing import Clock, Policy, measure

DIRECTIONS = ("h2d", "d2h")
MEMORIES = ("pinned", "pageable")
MODES = ("pipelined", "sync")
MATMUL_DTYPES = ("bf16", "fp8", "int8")


class Ops(Clock, Protocol):
    def reserve(self, nbytes: int) -> None: ...

    def copy(self, direction: str, memory: str, nbytes: int, blocking: bool) -> Callable[[], Any]: ...

    def tiny_kernel(self) -> Callable[[], Any]: ...

    def capture_graph(self, kernels: int) -> Graph: ...

    def matmul(self, dtype: str, n: int) -> Callable[[], Any]: ...


@dataclass(frozen=True)
class Measurement:
    metric: str
    value: float
    unit: str
    direction: str  # "latency" (lower is better) or "throughput"
    case: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """Measurements plus what could not be measured and why (kept in the run's params)."""

    rows: list[Measurement] = field(default_factory=list)
    unsupported: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    fits: dict[str, dict[str, Any]] = field(default_factory=dict)


def copy_sizes(lo: int, hi: int, factor: int) -> list[int]:
    """lo, lo·factor, … up to hi (hi included when it is not on the ladder)."""
    if lo <= 0 or hi < lo or factor < 2:
        raise ValueError("need 0 < lo <= hi and factor >= 2")
    out, n = [], lo
    while n < hi:
        out.append(n)
        n *= factor
    out.append(hi)
    return out


def copy_config(direction: str, memory: str, mode: str) -> str:
    return f"{direction}_{memory}_{mode}"


def copy_sweep(ops: Ops, sizes: Sequence[int], policy: Policy, *, deadline_ns: int | None = None,
               directions: Iterable[str] = DIRECTIONS, memories: Iterable[str] = MEMORIES,
               modes: Iterable[str] = MODES) -> Outcome:
    """GB/s per size for every (direction, memory, mode), then the latency/bandwidth fit of each.

    Sizes go outermost, smallest first, so a deadline drops the largest sizes of every
    configuration alike rather than whole configurations. A size is started only when the
    previous size's time, scaled by the size ratio, still fits before the deadline.
    """
    out = Outcome()
    configs = [(d, m, mo) for d in directions for m in memories for mo in modes]
    points: dict[str, list[tuple[int, float]]] = {copy_config(*c): [] for c in configs}
    ops.reserve(max(sizes))
    prev: tuple[int, int] | None = None  # (bytes, ns the previous size took over all configs)
    for n in sorted(sizes):
        started = ops.now_ns()
        expect = prev[1] * n / prev[0] if prev else 0.0
        if deadline_ns is not None and started + expect > deadline_ns:
            out.skipped.append(f"copies of {n} bytes and larger: they would not finish inside the "
                               "copy step's time budget")
            break
        for direction, memory, mode in configs:
            name = copy_config(direction, memory, mode)
            if name in out.unsupported:
                continue
            try:
                fn = ops.copy(direction, memory, n, blocking=mode == "sync")
            except Unsupported as exc:
                out.unsupported[name] = str(exc)
                continue
            tm = measure(fn, ops, policy)
            sec = tm.per_iter_ns / 1e9
            points[name].append((n, sec))
            out.rows.append(Measurement(name, n / sec / 1e9, "GB/s", "throughput", f"bytes={n}",
                                        {"bytes": n, "us_per_copy": round(sec * 1e6, 4), **tm.params()}))
        prev = (n, ops.now_ns() - started)
    for name, pts in points.items():
        if name in out.unsupported or not pts:
            continue
        fit = fit_copy_times([p[0] for p in pts], [p[1] for p in pts])
        out.fits[name] = fit.as_dict()
        if fit.ok and fit.latency_us is not None and fit.bandwidth_gbps is not None:
            params = {"fit": "t = latency + bytes / bandwidth (relative least squares)", **fit.as_dict()}
            out.rows.append(Measurement(f"{name}_latency", fit.latency_us, "us", "latency", "fit", params))
            out.rows.append(Measurement(f"{name}_bandwidth", fit.bandwidth_gbps, "GB/s", "throughput",
                                        "fit", params))
    return out


def launches(ops: Ops, policy: Policy) -> Outcome:
    """Tiny-kernel cost: pipelined (many launches, one sync) and round trip (launch + sync)."""
    out = Outcome()
    kernel = ops.tiny_kernel()
    tm = measure(kernel, ops, policy)
    case = "kernel=add_ numel=1"
    out.rows.append(Measurement("launch_pipelined", tm.per_iter_ns / 1e3, "us", "latency", case,
                                tm.params()))
    out.rows.append(Measurement("launch_enqueue", tm.enqueue_per_iter_ns / 1e3, "us", "latency", case,
                                {**tm.params(), "what": "host time to enqueue, before the final sync"}))

    def round_trip() -> None:
        kernel()
        ops.sync()

    rt = measure(round_trip, ops, policy)
    out.rows.append(Measurement("launch_round_trip", rt.per_iter_ns / 1e3, "us", "latency", case,
                                rt.params()))
    return out


def graphs(ops: Ops, policy: Policy, kernels: int = 20, captures: int = 5) -> Outcome:
    """CUDA-graph capture (+ instantiate) time and replay time of ``kernels`` tiny kernels."""
    out = Outcome()
    case = f"kernels={kernels}"
    try:
        caught = [ops.capture_graph(kernels) for _ in range(captures)]
    except Unsupported as exc:
        out.unsupported["graph"] = str(exc)
        return out
    cap_us = [g.capture_ns / 1e3 for g in caught]
    out.rows.append(Measurement("graph_capture", statistics.median(cap_us), "us", "latency", case, {
        "timing": "host (CPU-side work, no synchronize inside)", "captures": captures,
        "us_min": min(cap_us), "us_max": max(cap_us)}))
    tm = measure(caught[-1].replay, ops, policy)
    out.rows.append(Measurement("graph_replay", tm.per_iter_ns / 1e3, "us", "latency", case, tm.params()))
    out.rows.append(Measurement("graph_replay_per_kernel", tm.per_iter_ns / 1e3 / kernels, "us",
                                "latency", case, tm.params()))
    return out


def matmuls(ops: Ops, policy: Policy, n: int, device_name: str,
            dtypes: Iterable[str] = MATMUL_DTYPES) -> Outcome:
    """Dense n×n×n products: measured TFLOPS (TOPS for int8) and the share of the spec peak."""
    out = Outcome()
    for dtype in dtypes:
        try:
            fn = ops.matmul(dtype, n)
        except Unsupported as exc:
            out.unsupported[f"matmul_{dtype}"] = str(exc)
            continue
        tm = measure(fn, ops, policy)
        rate = 2 * n**3 / (tm.per_iter_ns / 1e9) / 1e12
        unit = "TOPS" if dtype == "int8" else "TFLOPS"
        spec = spec_peak(device_name, dtype)
        params: dict[str, Any] = {"flops_per_product": 2 * n**3, **tm.params()}
        if spec:
            params.update(spec_peak=spec["peak"], spec_model=spec["model"], spec_source=spec["source"])
        out.rows.append(Measurement(f"matmul_{dtype}", rate, unit, "throughput", f"n={n}", params))
        if spec:
            out.rows.append(Measurement(f"matmul_{dtype}_of_spec", 100.0 * rate / spec["peak"], "%",
                                        "throughput", f"n={n}", params))
    return out
