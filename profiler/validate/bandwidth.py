"""Bounce-buffer probe: pinned host↔device copy bandwidth with torch.

In CC mode every transfer between the CPU TEE and the GPU goes through an encrypted bounce
buffer in shared memory, so pinned copies drop from tens of GB/s (PCIe Gen5 x16: ~50 GB/s) to
roughly 4–10 GB/s. A result in (or within a few GB/s of) that range is evidence CC is on.
"""

from __future__ import annotations

import time
from typing import Any

CC_MAX_GBPS = 13.0  # 4–10 GB/s typical in CC mode, plus a few GB/s of margin
NO_CC_MIN_GBPS = 20.0  # without CC a Hopper GPU on PCIe Gen4/5 copies at 25–55 GB/s


def classify(h2d_gbps: float | None, d2h_gbps: float | None) -> tuple[str | None, str]:
    """'on', 'off' or None (ambiguous) from the slower direction (pure, tested)."""
    vals = [v for v in (h2d_gbps, d2h_gbps) if v is not None]
    if not vals:
        return None, "no bandwidth measured"
    worst = min(vals)
    if worst <= CC_MAX_GBPS:
        return "on", f"{worst:.1f} GB/s ≤ {CC_MAX_GBPS} GB/s: bounce-buffer range (CC on)"
    if worst >= NO_CC_MIN_GBPS:
        return "off", f"{worst:.1f} GB/s ≥ {NO_CC_MIN_GBPS} GB/s: direct DMA speed (CC off)"
    return None, f"{worst:.1f} GB/s is between the CC and non-CC ranges"


def probe(size_mib: int = 256, repeats: int = 10) -> dict[str, Any]:
    """Measure pinned H2D and D2H GB/s; {h2d_gbps, d2h_gbps, reason} (never raises)."""
    out: dict[str, Any] = {"size_mib": size_mib, "repeats": repeats, "h2d_gbps": None,
                           "d2h_gbps": None, "reason": None}
    try:
        import torch
    except ImportError:
        out["reason"] = "torch is not installed"
        return out
    try:
        if not torch.cuda.is_available():
            out["reason"] = "torch sees no CUDA device"
            return out
        n = size_mib * 2**20
        host = torch.empty(n, dtype=torch.uint8, pin_memory=True)
        dev = torch.empty(n, dtype=torch.uint8, device="cuda")
        for name, dst, src in (("h2d_gbps", dev, host), ("d2h_gbps", host, dev)):
            dst.copy_(src, non_blocking=True)  # warm-up
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(repeats):
                dst.copy_(src, non_blocking=True)
            torch.cuda.synchronize()
            out[name] = n * repeats / (time.perf_counter() - t0) / 1e9
        out["device"] = torch.cuda.get_device_name(0)
    except Exception as exc:  # a broken CUDA stack is a finding, not a crash
        out["reason"] = f"{type(exc).__name__}: {exc}"
    return out
