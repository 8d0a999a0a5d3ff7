"""The vendor's published dense Tensor Core peaks, to put a measured TFLOPS in proportion.

These are NVIDIA's datasheet figures, NOT measurements. The datasheets quote BF16/FP8/INT8 with
2:4 structured sparsity; a dense matmul can reach at most half of that, so the table holds the
dense figure (the sparse one halved). A measured matmul is reported as measured; the ratio to
this peak is context (a healthy dense GEMM reaches roughly 60–80 % of it).

Keys are matched against the device name torch/NVML report, most specific first.
"""

from __future__ import annotations

from typing import Any

SOURCE = "NVIDIA datasheet, dense (the sparsity figure halved); vendor's published peak, not measured"

# (name fragments that must all appear, lower case) → dense peak per dtype, TFLOPS (TOPS for int8)
_PEAKS: tuple[tuple[str, tuple[str, ...], dict[str, float]], ...] = (
    ("H200 NVL", ("h200", "nvl"), {"bf16": 835.5, "fp8": 1670.5, "int8": 1670.5}),
    ("H200 SXM", ("h200",), {"bf16": 989.4, "fp8": 1978.9, "int8": 1978.9}),
    ("H100 NVL", ("h100", "nvl"), {"bf16": 835.5, "fp8": 1670.5, "int8": 1670.5}),
    ("H100 PCIe", ("h100", "pcie"), {"bf16": 756.5, "fp8": 1513.0, "int8": 1513.0}),
    ("H100 SXM", ("h100", "hbm3"), {"bf16": 989.4, "fp8": 1978.9, "int8": 1978.9}),
    ("H100 SXM", ("h100", "sxm"), {"bf16": 989.4, "fp8": 1978.9, "int8": 1978.9}),
)


def spec_peak(device_name: str, dtype: str) -> dict[str, Any] | None:
    """{"peak", "model", "source"} for this GPU and dtype, or None when the GPU is not listed."""
    name = device_name.lower()
    for model, needles, peaks in _PEAKS:
        if all(n in name for n in needles) and dtype in peaks:
            return {"peak": peaks[dtype], "model": model, "source": SOURCE}
    return None
