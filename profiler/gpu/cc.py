"""The CC state the gpu suite records first, in its manifest and with every result row.

Read through the safe NVML wrappers (so a replay file stands in for a GPU in the tests):
the system-wide settings (CC feature, environment, DevTools, multi-GPU mode, ready state) and
the measured GPU's protected-memory split, matched to torch's device by UUID when it can be.
"""

from __future__ import annotations

from typing import Any

from profiler.telemetry import nvml as N


def cc_label(cc: dict[str, Any]) -> str:
    """'on', 'off' or 'unknown' — the short form each result row carries."""
    feature = cc.get("cc_feature")
    return feature if feature in ("on", "off") else "unknown"


def _norm_uuid(u: Any) -> str:
    return str(u or "").lower().removeprefix("gpu-")


def nvml_index(nv: Any, count: int, uuid: str | None, fallback: int) -> tuple[int, str]:
    """NVML's index of torch's device: by UUID (orderings may differ), else the same index."""
    if uuid:
        for i in range(count):
            handle, _ = N.safe(nv.nvmlDeviceGetHandleByIndex, i)
            if handle is None:
                continue
            got, _ = N.safe(nv.nvmlDeviceGetUUID, handle)
            if isinstance(got, bytes):
                got = got.decode(errors="replace")
            if got is not None and _norm_uuid(got) == _norm_uuid(uuid):
                return i, "uuid"
    return fallback, "index (no UUID match)" if uuid else "index"


def read_cc(device_index: int = 0, uuid: str | None = None) -> dict[str, Any]:
    """CC facts for the run; never raises. ``cc`` is the short label (see :func:`cc_label`)."""
    nv, reason, source = N.open_nvml()
    if nv is None:
        return {"cc": "unknown", "nvml_source": source, "reasons": {"nvml": reason or "unknown"}}
    try:
        count, why = N.device_count(nv)
        state = N.cc_state(nv)
        out: dict[str, Any] = {"nvml_source": source, **state}
        if count:
            idx, how = nvml_index(nv, count, uuid, device_index)
            out.update(nvml_index=idx, nvml_match=how, protected=N.cc_protected_memory(nv, idx))
        elif why:
            out.setdefault("reasons", {})["device_count"] = why
    finally:
        N.close_nvml(nv)
    out["cc"] = cc_label(out)
    return out
