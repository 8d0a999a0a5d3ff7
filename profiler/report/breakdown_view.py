"""Where the time went, per leg: the latency split (client/network, queue, prefill, decode from
vLLM's /metrics histograms) and the GPU busy share and energy (NVML), via
``profiler.telemetry.breakdown``. Missing inputs are said, never filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from profiler.report.model import Block, Paragraph, Table
from profiler.report.text import num, pct

COMPONENT_LABELS = {
    "client_network_ms": "client + network + API server (ms)",
    "queue_ms": "server queue (ms)",
    "prefill_ms": "prefill (ms)",
    "decode_ms": "decode (ms)",
}
GPU_LABELS = {
    "busy_fraction": "GPU busy share (kernel running)",
    "energy_per_output_token_j": "GPU energy per output token (J)",
    "energy_j": "GPU energy over the run (J)",
}


def breakdown_blocks(on_run: Path | None, off_run: Path | None) -> list[Block]:
    """Tables for the first run of each leg; a paragraph saying why when there is nothing."""
    if on_run is None or off_run is None:
        return [Paragraph("Needs one run per leg.")]
    from profiler.telemetry.breakdown import breakdown, compare_breakdowns

    on, off = breakdown(on_run), breakdown(off_run)
    if not on.get("available") or not off.get("available"):
        return [Paragraph(f"Not available: {on.get('reason') or off.get('reason')}.")]
    cmp = compare_breakdowns(on, off)
    blocks: list[Block] = []
    comps: Mapping[str, Any] = cmp.get("components") or {}
    if comps:
        rows = [
            [COMPONENT_LABELS.get(c, c), num(v.get("on")), num(v.get("off")), num(v.get("delta_ms")),
             pct(v.get("delta_pct")), _share(v.get("share_of_growth"))]
            for c, v in comps.items()
        ]  # fmt: skip
        grew = cmp.get("grew_most")
        note = (
            "Server parts from vLLM's histograms over the measured window; client + network is the "
            "client's mean E2E latency minus them."
        )
        if grew:
            note += f" Grew most: {COMPONENT_LABELS.get(grew, grew)}."
        blocks.append(Table(
            "Mean latency per request, split by where it was spent",
            ["component", "TEE on", "TEE off", "Δ ms", "Δ %", "share of E2E growth"], rows, note=note,
        ))  # fmt: skip
    else:
        blocks.append(Paragraph(f"Latency split not available: {cmp.get('reason', 'no server metrics')}."))
    gpu = cmp.get("gpu") or {}
    gpu_rows = [
        [GPU_LABELS[k], _gpu_value(k, v.get("on")), _gpu_value(k, v.get("off")), pct(v.get("delta_pct"))]
        for k, v in gpu.items()
        if v.get("on") is not None or v.get("off") is not None
    ]
    if gpu_rows:
        blocks.append(Table("GPU time and energy (NVML)", ["quantity", "TEE on", "TEE off", "Δ %"], gpu_rows,
                            note="A high busy share means GPU time dominates the request: the regime where "
                            "the reference study expects the TEE's overhead to vanish."))  # fmt: skip
    else:
        reason = (
            (on.get("gpu") or {}).get("reason") or (off.get("gpu") or {}).get("reason") or "no GPU telemetry"
        )
        blocks.append(Paragraph(f"GPU time: not available ({reason})."))
    return blocks


def _share(value: Any) -> str:
    return "—" if value is None else f"{100 * float(value):.0f}%"


def _gpu_value(key: str, value: Any) -> str:
    if value is None:
        return "—"
    return f"{100 * float(value):.1f}%" if key == "busy_fraction" else num(value)
