"""A simulated GPU with known costs: the ground truth the gpu measurement logic must recover.

It has a host clock (integer ns) and a device queue. Enqueueing an operation costs the host
``cpu_ns``; the device runs it for ``gpu_ns`` once it is free and the operation has arrived;
``sync()`` moves the host clock to when the device is idle, plus ``sync_ns``. CUDA events are
stamped on the device timeline, and can be made to lie (negative, zero, skewed) as reported
under CC. Same interface as :class:`profiler.gpu.ops.TorchOps`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from profiler.gpu.ops import Graph, Unsupported


@dataclass
class CopyCost:
    latency_ns: int
    gbps: float  # 10^9 B/s


@dataclass
class FakeGpu:
    name: str = "NVIDIA H200"
    copies: dict[str, CopyCost] = field(default_factory=lambda: {
        "pinned": CopyCost(latency_ns=12_000, gbps=5.2),
        "pageable": CopyCost(latency_ns=30_000, gbps=3.1),
    })
    copy_cpu_ns: int = 2_000
    kernel_cpu_ns: int = 5_000
    kernel_gpu_ns: int = 2_000
    sync_ns: int = 8_000
    capture_ns: int = 400_000
    replay_cpu_ns: int = 3_000
    graph_kernel_gpu_ns: int = 1_500
    matmul_tflops: dict[str, float] = field(default_factory=lambda: {"bf16": 700.0, "fp8": 1300.0})
    refuse: set[str] = field(default_factory=set)  # "pinned", "pageable", "graph"
    events: str | None = "ok"  # None (no events), ok, negative, zero, skew (x1.5)
    noise: float = 0.0  # relative sd of every device time
    seed: int = 0
    t: int = 1_000_000_000
    gpu_free: int = 0
    calls: int = 0
    released: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    # clock ------------------------------------------------------------------
    def now_ns(self) -> int:
        return self.t

    def sync(self) -> None:
        self.t = max(self.t, self.gpu_free) + self.sync_ns

    def _run(self, cpu_ns: int, gpu_ns: float, blocking: bool = False) -> None:
        self.calls += 1
        self.t += cpu_ns
        if self.noise:
            gpu_ns *= max(0.05, 1 + self._rng.gauss(0, self.noise))
        self.gpu_free = max(self.t, self.gpu_free) + round(gpu_ns)
        if blocking:
            self.sync()

    def event_timer(self) -> _FakeEvents | None:
        return _FakeEvents(self) if self.events is not None else None

    # ops --------------------------------------------------------------------
    def facts(self) -> dict[str, Any]:
        return {"device": self.name, "capability": "9.0", "simulated": True}

    def reserve(self, nbytes: int) -> None:
        pass

    def copy(self, direction: str, memory: str, nbytes: int, blocking: bool) -> Callable[[], None]:
        if memory in self.refuse:
            raise Unsupported(f"{memory} refused by the simulation")
        cost = self.copies[memory]
        gpu = cost.latency_ns + nbytes / cost.gbps  # bytes / (GB/s) = ns
        return lambda: self._run(self.copy_cpu_ns, gpu, blocking)

    def host_register(self, nbytes: int = 1 << 20) -> tuple[bool, str]:
        return False, "unsupported: cudaHostRegister returned 801 (cudaErrorNotSupported)"

    def tiny_kernel(self) -> Callable[[], None]:
        return lambda: self._run(self.kernel_cpu_ns, self.kernel_gpu_ns)

    def capture_graph(self, kernels: int) -> Graph:
        if "graph" in self.refuse:
            raise Unsupported("graphs refused by the simulation")
        t0 = self.t
        self.t += self.capture_ns
        return Graph(capture_ns=self.t - t0, kernels=kernels,
                     replay=lambda: self._run(self.replay_cpu_ns, kernels * self.graph_kernel_gpu_ns))

    def matmul(self, dtype: str, n: int) -> Callable[[], None]:
        rate = self.matmul_tflops.get(dtype)
        if rate is None:
            raise Unsupported(f"{dtype} not in this simulation")
        gpu = 2 * n**3 / (rate * 1e12) * 1e9
        return lambda: self._run(10_000, gpu)

    def release(self) -> None:
        self.released += 1


class _FakeEvents:
    def __init__(self, gpu: FakeGpu) -> None:
        self.gpu = gpu
        self.a = self.b = 0

    def start(self) -> None:
        self.a = max(self.gpu.t, self.gpu.gpu_free)

    def stop(self) -> None:
        self.b = max(self.gpu.t, self.gpu.gpu_free)

    def elapsed_ns(self) -> float | None:
        span = float(self.b - self.a)
        mode = self.gpu.events
        if mode == "negative":
            return -span
        if mode == "zero":
            return 0.0
        if mode == "skew":
            return span * 1.5
        return span
