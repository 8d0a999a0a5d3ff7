"""NVML access that never raises: open the library, ask one question, get (value, reason).

Every caller goes through :func:`open_nvml`, which returns the real ``pynvml`` module or, when
``TEE_LLM_PROF_NVML_REPLAY`` names a JSON file of recorded answers, a replay of those answers
(:mod:`profiler.telemetry.replay`). Both have the same shape, so the code that runs on a GPU is
the code the unit tests run. Output produced from a replay says so (``nvml_source``).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Any

import pynvml

REPLAY_ENV = "TEE_LLM_PROF_NVML_REPLAY"

# NVML return codes worth a human sentence; others fall back to pynvml's own string.
_REASONS = {
    pynvml.NVML_ERROR_NOT_SUPPORTED: "not supported on this GPU/driver",
    pynvml.NVML_ERROR_NO_PERMISSION: "no permission",
    pynvml.NVML_ERROR_FUNCTION_NOT_FOUND: "driver too old (function not found)",
    pynvml.NVML_ERROR_LIBRARY_NOT_FOUND: "NVML library not found (libnvidia-ml.so.1): "
    "no NVIDIA driver on this host",
    pynvml.NVML_ERROR_DRIVER_NOT_LOADED: "NVIDIA driver not loaded",
    pynvml.NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    pynvml.NVML_ERROR_NOT_FOUND: "not found",
}


def error_reason(exc: BaseException) -> str:
    if isinstance(exc, pynvml.NVMLError):
        code = getattr(exc, "value", None)
        text = _REASONS.get(code) if code is not None else None
        return f"{text or str(exc)} (NVML error {code})"
    return f"{type(exc).__name__}: {exc}"


def error_code(reason: str | None) -> int | None:
    """The NVML code at the end of a reason made by :func:`error_reason`, if any."""
    if reason and reason.endswith(")") and "(NVML error " in reason:
        try:
            return int(reason.rsplit("(NVML error ", 1)[1][:-1])
        except ValueError:
            return None
    return None


def is_unsupported(reason: str | None) -> bool:
    return error_code(reason) in (
        pynvml.NVML_ERROR_NOT_SUPPORTED,
        pynvml.NVML_ERROR_FUNCTION_NOT_FOUND,
        pynvml.NVML_ERROR_NO_PERMISSION,
    )


def safe(fn: Callable[..., Any], *args: Any) -> tuple[Any, str | None]:
    """Call one NVML function: (value, None) on success, (None, reason) on any failure."""
    try:
        return fn(*args), None
    except Exception as exc:  # NVMLError, ctypes errors, a replay without that answer
        return None, error_reason(exc)


def _text(value: Any) -> Any:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def open_nvml() -> tuple[Any | None, str | None, str]:
    """Initialise NVML. Returns (nvml, None, source) or (None, reason, source).

    ``source`` is ``"nvml"`` for the real library or ``"replay:<path>"``. Each successful open
    must be paired with ``nvml.nvmlShutdown()`` (NVML reference-counts init/shutdown).
    """
    path = os.environ.get(REPLAY_ENV)
    nv: Any
    if path:
        from profiler.telemetry.replay import ReplayNvml

        try:
            nv = ReplayNvml.from_file(path)
        except (OSError, ValueError) as exc:
            return None, f"cannot read NVML replay file {path}: {exc}", f"replay:{path}"
        source = f"replay:{path}"
    else:
        nv, source = pynvml, "nvml"
    _, reason = safe(nv.nvmlInit)
    if reason:
        return None, reason, source
    return nv, None, source


def close_nvml(nv: Any) -> None:
    safe(nv.nvmlShutdown)


def device_count(nv: Any) -> tuple[int, str | None]:
    count, reason = safe(nv.nvmlDeviceGetCount)
    return (int(count) if count is not None else 0), reason


def device_info(nv: Any, index: int) -> dict[str, Any]:
    """Static facts of one GPU; a field that cannot be read is None with its reason."""
    info: dict[str, Any] = {"index": index}
    reasons: dict[str, str] = {}
    handle, reason = safe(nv.nvmlDeviceGetHandleByIndex, index)
    if handle is None:
        info["reasons"] = {"handle": reason}
        return info

    def put(key: str, fn: Callable[..., Any], *args: Any, conv: Callable[[Any], Any] = _text) -> None:
        value, why = safe(fn, handle, *args)
        if value is not None:
            value, why = safe(conv, value)  # an odd answer must not break the fingerprint
        info[key] = value
        if why:
            reasons[key] = why

    put("name", nv.nvmlDeviceGetName)
    put("uuid", nv.nvmlDeviceGetUUID)
    put("vbios", nv.nvmlDeviceGetVbiosVersion)
    put("pci_bus_id", nv.nvmlDeviceGetPciInfo, conv=lambda p: _text(p.busId))
    put("memory_total_mib", nv.nvmlDeviceGetMemoryInfo, conv=lambda m: round(m.total / 2**20))
    put("architecture", nv.nvmlDeviceGetArchitecture, conv=_arch_name)
    put("power_limit_w", nv.nvmlDeviceGetEnforcedPowerLimit, conv=lambda mw: mw / 1000.0)
    put("cc_protected_mem_kib", nv.nvmlDeviceGetConfComputeMemSizeInfo,
        conv=lambda s: int(s.protectedMemSizeKib))
    if reasons:
        info["reasons"] = reasons
    return info


def _arch_name(code: Any) -> str:
    names = {
        getattr(pynvml, n): n.removeprefix("NVML_DEVICE_ARCH_").lower()
        for n in dir(pynvml)
        if n.startswith("NVML_DEVICE_ARCH_") and n != "NVML_DEVICE_ARCH_UNKNOWN"
    }
    return names.get(int(code), f"unknown({code})")


def system_info(nv: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for key, fn, conv in (
        ("driver_version", nv.nvmlSystemGetDriverVersion, _text),
        ("cuda_driver_version", nv.nvmlSystemGetCudaDriverVersion_v2, _cuda_version),
        ("nvml_version", nv.nvmlSystemGetNVMLVersion, _text),
    ):
        value, why = safe(fn)
        out[key] = conv(value) if value is not None else None
        if why:
            reasons[key] = why
    if reasons:
        out["reasons"] = reasons
    return out


def _cuda_version(v: Any) -> str:
    v = int(v)
    return f"{v // 1000}.{(v % 1000) // 10}"


# --- Confidential Computing (system-wide on Hopper: one setting for all GPUs) ---------------

CPU_CAPS = {
    pynvml.NVML_CC_SYSTEM_CPU_CAPS_NONE: "none",
    pynvml.NVML_CC_SYSTEM_CPU_CAPS_AMD_SEV: "amd-sev",
    pynvml.NVML_CC_SYSTEM_CPU_CAPS_INTEL_TDX: "intel-tdx",
    pynvml.NVML_CC_SYSTEM_CPU_CAPS_AMD_SEV_SNP: "amd-sev-snp",
    pynvml.NVML_CC_SYSTEM_CPU_CAPS_AMD_SNP_VTOM: "amd-snp-vtom",
}
ENVIRONMENTS = {
    pynvml.NVML_CC_SYSTEM_ENVIRONMENT_UNAVAILABLE: "unavailable",
    pynvml.NVML_CC_SYSTEM_ENVIRONMENT_SIM: "SIM",
    pynvml.NVML_CC_SYSTEM_ENVIRONMENT_PROD: "PROD",
}
MULTI_GPU = {
    pynvml.NVML_CC_SYSTEM_MULTIGPU_NONE: "none",
    pynvml.NVML_CC_SYSTEM_MULTIGPU_PROTECTED_PCIE: "protected-pcie",
    pynvml.NVML_CC_SYSTEM_MULTIGPU_NVLE: "nvle",
}


def _onoff(v: Any) -> str:
    return "on" if int(v) else "off"


def cc_state(nv: Any) -> dict[str, Any]:
    """CC settings as plain values: cc_feature on|off, environment PROD|SIM|unavailable, …

    Prefers ``nvmlSystemGetConfComputeSettings`` (adds multiGpuMode, driver ≥ 550) and falls back
    to ``nvmlSystemGetConfComputeState``. Missing answers are None with a reason.
    """
    out: dict[str, Any] = dict.fromkeys(
        ("cc_feature", "environment", "devtools_mode", "multi_gpu_mode", "cpu_caps", "gpus_caps",
         "gpus_ready"))
    reasons: dict[str, str] = {}
    settings = pynvml.c_nvmlSystemConfComputeSettings_v1_t()

    def get_settings() -> Any:
        ret = nv.nvmlSystemGetConfComputeSettings(ctypes.byref(settings))
        if ret != pynvml.NVML_SUCCESS:
            raise pynvml.NVMLError(ret)
        return settings

    state, why = safe(get_settings)
    if state is None:
        state, why2 = safe(nv.nvmlSystemGetConfComputeState)
        if state is None:
            reasons["state"] = why2 or why or "unknown"
        else:
            reasons["multi_gpu_mode"] = f"nvmlSystemGetConfComputeSettings: {why}"
    if state is not None:
        out["cc_feature"] = _onoff(state.ccFeature)
        out["environment"] = ENVIRONMENTS.get(int(state.environment), str(state.environment))
        out["devtools_mode"] = _onoff(state.devToolsMode)
        if hasattr(state, "multiGpuMode") and "multi_gpu_mode" not in reasons:
            out["multi_gpu_mode"] = MULTI_GPU.get(int(state.multiGpuMode), str(state.multiGpuMode))
    caps, why = safe(nv.nvmlSystemGetConfComputeCapabilities)
    if caps is None:
        reasons["caps"] = why or "unknown"
    else:
        out["cpu_caps"] = CPU_CAPS.get(int(caps.cpuCaps), str(caps.cpuCaps))
        out["gpus_caps"] = "capable" if int(caps.gpusCaps) else "not-capable"
    ready, why = safe(nv.nvmlSystemGetConfComputeGpusReadyState)
    if ready is None:
        reasons["gpus_ready"] = why or "unknown"
    else:
        out["gpus_ready"] = bool(int(ready))
    if reasons:
        out["reasons"] = reasons
    return out


def cc_protected_memory(nv: Any, index: int) -> dict[str, Any]:
    """One GPU's CC memory split: protected/unprotected size (KiB) and protected use (MiB).

    Exists only in CC mode; with CC off NVML answers NOT_SUPPORTED, which stays a reason.
    """
    out: dict[str, Any] = dict.fromkeys(
        ("protected_mem_kib", "unprotected_mem_kib", "protected_used_mib", "protected_total_mib"))
    reasons: dict[str, str] = {}
    handle, why = safe(nv.nvmlDeviceGetHandleByIndex, index)
    if handle is None:
        return {**out, "reasons": {"handle": why or "unknown"}}
    size, why = safe(nv.nvmlDeviceGetConfComputeMemSizeInfo, handle)
    if size is None:
        reasons["mem_size"] = why or "unknown"
    else:
        out["protected_mem_kib"] = int(size.protectedMemSizeKib)
        out["unprotected_mem_kib"] = int(size.unprotectedMemSizeKib)
    use, why = safe(nv.nvmlDeviceGetConfComputeProtectedMemoryUsage, handle)
    if use is None:
        reasons["protected_usage"] = why or "unknown"
    else:
        out["protected_used_mib"] = round(int(use.used) / 2**20, 1)
        out["protected_total_mib"] = round(int(use.total) / 2**20, 1)
    if reasons:
        out["reasons"] = reasons
    return out
