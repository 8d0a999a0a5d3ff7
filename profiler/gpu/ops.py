"""The torch side of the gpu suite: the only module that imports torch.

:class:`TorchOps` gives :mod:`profiler.gpu.bench` what it needs — a host clock, a synchronize,
CUDA events, and callables that enqueue one copy, one tiny kernel, one graph replay or one
matmul — so the measurement logic never touches torch and is tested against a simulated device.
``device="cpu"`` runs the same calls on the CPU (no events, no pinned memory, no graphs): the
slow tests use it to check the torch calls themselves on a machine without a GPU.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: cudaError_t codes worth naming (CUDA runtime API, driver_types.h)
CUDA_ERRORS = {801: "cudaErrorNotSupported", 1: "cudaErrorInvalidValue", 2: "cudaErrorMemoryAllocation",
               712: "cudaErrorHostMemoryAlreadyRegistered"}


class Unsupported(Exception):
    """This operation cannot run on this device/driver/torch; the message says why."""


@dataclass
class Graph:
    capture_ns: int  # host time of capture_begin → capture_end (capture and instantiate)
    replay: Callable[[], None]
    kernels: int


class _CudaEvents:
    def __init__(self, torch: Any) -> None:
        self._a = torch.cuda.Event(enable_timing=True)
        self._b = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        self._a.record()

    def stop(self) -> None:
        self._b.record()

    def elapsed_ns(self) -> float | None:
        try:
            return float(self._a.elapsed_time(self._b)) * 1e6
        except RuntimeError:  # events not recorded or not complete
            return None


class TorchOps:
    def __init__(self, device: int | str = 0) -> None:
        import torch

        self.torch = torch
        self.cuda = device != "cpu"
        self.device = torch.device(f"cuda:{device}" if self.cuda else "cpu")
        if self.cuda:
            torch.cuda.set_device(self.device)
        self._reserve = 0
        self._host: dict[str, Any] = {}
        self._dev: Any = None
        self._keep: list[Any] = []

    # ------------------------------------------------------------------ facts

    def facts(self) -> dict[str, Any]:
        t = self.torch
        out: dict[str, Any] = {"torch": t.__version__, "cuda": t.version.cuda,
                               "device_kind": self.device.type}
        if self.cuda:
            p = t.cuda.get_device_properties(self.device)
            out.update(device=p.name, capability=f"{p.major}.{p.minor}", memory_bytes=int(p.total_memory),
                       sms=int(p.multi_processor_count), uuid=str(getattr(p, "uuid", "")) or None)
        else:
            out.update(device="cpu", capability=None)
        return out

    def capability(self) -> tuple[int, int] | None:
        if not self.cuda:
            return None
        major, minor = self.torch.cuda.get_device_capability(self.device)
        return int(major), int(minor)

    # ------------------------------------------------------------------ clock

    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize(self.device)

    def event_timer(self) -> _CudaEvents | None:
        return _CudaEvents(self.torch) if self.cuda else None

    # ------------------------------------------------------------------ copies

    def reserve(self, nbytes: int) -> None:
        """Allocate copy buffers of this size once, so a size sweep never allocates while timed."""
        self._reserve = max(self._reserve, int(nbytes))

    def _host_buf(self, memory: str, nbytes: int) -> Any:
        have = self._host.get(memory)
        if have is None or have.numel() < nbytes:
            if memory == "pinned" and not self.cuda:
                raise Unsupported("pinned host memory needs a CUDA device")
            size = max(nbytes, self._reserve)
            self._host.pop(memory, None)
            try:  # pin_memory=True is cudaHostAlloc: the allocation CC mode allows
                have = self.torch.empty(size, dtype=self.torch.uint8, pin_memory=memory == "pinned")
            except RuntimeError as exc:
                raise Unsupported(f"{memory} host buffer of {size} bytes: {exc}") from exc
            have.fill_(1)  # touch every page now, not inside a timed copy
            self._host[memory] = have
        return have[:nbytes]

    def _dev_buf(self, nbytes: int) -> Any:
        if self._dev is None or self._dev.numel() < nbytes:
            self._dev = None
            self._dev = self.torch.empty(max(nbytes, self._reserve), dtype=self.torch.uint8,
                                         device=self.device)
            self._dev.fill_(2)
        return self._dev[:nbytes]

    def copy(self, direction: str, memory: str, nbytes: int, blocking: bool) -> Callable[[], Any]:
        """One copy of ``nbytes`` (h2d or d2h); ``blocking`` waits for it (copy_ non_blocking=False)."""
        if memory not in ("pinned", "pageable") or direction not in ("h2d", "d2h"):
            raise ValueError(f"unknown copy {direction} {memory}")
        host, dev = self._host_buf(memory, nbytes), self._dev_buf(nbytes)
        dst, src = (dev, host) if direction == "h2d" else (host, dev)
        nb = not blocking
        return lambda: dst.copy_(src, non_blocking=nb)

    def host_register(self, nbytes: int = 1 << 20) -> tuple[bool, str]:
        """Try cudaHostRegister on pageable memory (fails in CC mode with error 801)."""
        if not self.cuda:
            return False, "no CUDA device"
        t = self.torch
        buf = t.empty(nbytes, dtype=t.uint8)
        try:
            rt = t.cuda.cudart()
            code = int(rt.cudaHostRegister(buf.data_ptr(), nbytes, 0))
        except Exception as exc:  # the binding itself missing is "cannot tell", not a crash
            return False, f"cannot call cudaHostRegister: {type(exc).__name__}: {exc}"
        if code != 0:
            name = CUDA_ERRORS.get(code, "cudaError")
            return False, f"unsupported: cudaHostRegister returned {code} ({name})"
        # registration worked; failing to undo it must not stop the suite
        with contextlib.suppress(Exception):
            rt.cudaHostUnregister(buf.data_ptr())
        return True, "cudaHostRegister works"

    # ------------------------------------------------------------------ launches

    def tiny_kernel(self) -> Callable[[], Any]:
        x = self.torch.zeros(1, device=self.device)
        self._keep.append(x)
        return lambda: x.add_(1)

    def capture_graph(self, kernels: int) -> Graph:
        """Capture ``kernels`` tiny kernels into a CUDA graph; host time of capture + instantiate."""
        if not self.cuda:
            raise Unsupported("CUDA graphs need a CUDA device")
        t = self.torch
        x = t.zeros(1, device=self.device)
        side = t.cuda.Stream(self.device)
        side.wait_stream(t.cuda.current_stream(self.device))
        with t.cuda.stream(side):  # warm-up on the capture stream, as torch's graph recipe does
            for _ in range(3):
                x.add_(1)
        t.cuda.current_stream(self.device).wait_stream(side)
        t.cuda.synchronize(self.device)
        g = t.cuda.CUDAGraph()
        try:
            with t.cuda.stream(side):
                t0 = time.perf_counter_ns()
                g.capture_begin()
                for _ in range(kernels):
                    x.add_(1)
                g.capture_end()  # instantiates the graph too (keep_graph=False)
                t1 = time.perf_counter_ns()
        except RuntimeError as exc:
            raise Unsupported(f"graph capture failed: {exc}") from exc
        t.cuda.synchronize(self.device)
        self._keep.append((g, x))
        return Graph(capture_ns=t1 - t0, replay=g.replay, kernels=kernels)

    # ------------------------------------------------------------------ matmul

    def matmul(self, dtype: str, n: int) -> Callable[[], Any]:
        """One n×n×n product in ``dtype`` (bf16, fp8 e4m3 via _scaled_mm, int8 via _int_mm)."""
        builders = {"bf16": self._bf16, "fp8": self._fp8, "int8": self._int8}
        if dtype not in builders:
            raise ValueError(f"unknown matmul dtype {dtype!r}")
        try:
            fn = builders[dtype](n)
            fn()  # probe: an unsupported layout or architecture fails here, not while timed
            self.sync()
        except Unsupported:
            raise
        except (RuntimeError, TypeError, NotImplementedError, AttributeError) as exc:
            first = (str(exc).splitlines() or [""])[0][:200]
            raise Unsupported(f"{dtype} matmul: {type(exc).__name__}: {first}") from exc
        return fn

    def _bf16(self, n: int) -> Callable[[], Any]:
        t, dev = self.torch, self.device
        a = t.randn(n, n, device=dev, dtype=t.bfloat16)
        b = t.randn(n, n, device=dev, dtype=t.bfloat16)
        c = t.empty(n, n, device=dev, dtype=t.bfloat16)
        return lambda: t.mm(a, b, out=c)

    def _int8(self, n: int) -> Callable[[], Any]:
        t, dev = self.torch, self.device
        if not hasattr(t, "_int_mm"):
            raise Unsupported(f"torch {t.__version__} has no torch._int_mm")
        a = t.randint(-128, 127, (n, n), device=dev, dtype=t.int8)
        b = t.randint(-128, 127, (n, n), device=dev, dtype=t.int8)
        return lambda: t._int_mm(a, b)

    def _fp8(self, n: int) -> Callable[[], Any]:
        t, dev = self.torch, self.device
        if not hasattr(t, "_scaled_mm") or not hasattr(t, "float8_e4m3fn"):
            raise Unsupported(f"torch {t.__version__} has no torch._scaled_mm / float8_e4m3fn")
        cap = self.capability()
        if cap is not None and cap < (8, 9):
            raise Unsupported(f"FP8 tensor cores need sm_89 or newer, this GPU is sm_{cap[0]}{cap[1]}")
        a = t.randn(n, n, device=dev).to(t.float8_e4m3fn)
        b = t.randn(n, n, device=dev).to(t.float8_e4m3fn).t()  # _scaled_mm wants b column-major
        one = t.tensor(1.0, device=dev)
        return lambda: t._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=t.bfloat16)

    def release(self) -> None:
        self._host.clear()
        self._dev = None
        self._keep.clear()
        if self.cuda:
            self.torch.cuda.empty_cache()
