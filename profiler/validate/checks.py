"""CC-mode checks: each one observes whether confidential computing is on, off, or unknown.

A check returns what it observed (``on`` / ``off`` / None) with its reason and evidence;
:func:`validate` turns that into pass/fail/unknown against the expectation. Checks register by
name in :data:`CHECKS`; ``probe`` checks (the torch bandwidth probe) run only when asked.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog.registry import Registry
from profiler.env import tee_facts
from profiler.telemetry import nvml as N
from profiler.validate import attest, bandwidth

EXIT_HOLDS, EXIT_FAILS, EXIT_NO_GPU = 0, 1, 3


@dataclass
class Context:
    """What the checks share: one NVML session, the filesystem root, the nonce, options."""

    root: Path = Path("/")
    tsm_root: Path = attest.TSM_REPORT
    tsm_entry: str | None = None  # reuse an existing report entry instead of making one
    nonce: bytes | None = None
    nv: Any = None
    nvml_reason: str | None = None
    nvml_source: str = "nvml"
    gpu_count: int = 0
    cc: dict[str, Any] = field(default_factory=dict)


@dataclass
class Observation:
    observed: str | None  # "on", "off" or None (cannot tell)
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    blocker: str | None = None  # for expect=on: a reason this setup is not a real CC setup


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    fn: Callable[[Context], Observation]
    required_for_on: bool = False  # must pass for "CC on" to hold
    probe: bool = False  # only with --probe (needs torch + CUDA, takes seconds)


CHECKS: Registry[Check] = Registry("check")


def check(name: str, title: str, *, required_for_on: bool = False, probe: bool = False
          ) -> Callable[[Callable[[Context], Observation]], Callable[[Context], Observation]]:
    def deco(fn: Callable[[Context], Observation]) -> Callable[[Context], Observation]:
        CHECKS.add(name, Check(name, title, fn, required_for_on, probe))
        return fn

    return deco


def _no_gpu(ctx: Context) -> Observation | None:
    if ctx.nv is None or ctx.gpu_count == 0:
        return Observation(None, f"no NVIDIA GPU: {ctx.nvml_reason or 'NVML found none'}")
    return None


@check("nvml_cc_state", "GPU CC mode (NVML: ccFeature, environment, devToolsMode, multiGpuMode)",
       required_for_on=True)
def nvml_cc_state(ctx: Context) -> Observation:
    if (none := _no_gpu(ctx)) is not None:
        return none
    cc = ctx.cc
    details = {k: cc.get(k) for k in ("cc_feature", "environment", "devtools_mode", "multi_gpu_mode")}
    if cc.get("cc_feature") is None:
        return Observation(None, f"NVML gave no CC state: {cc.get('reasons')}", details)
    obs = Observation(cc["cc_feature"], f"ccFeature {cc['cc_feature']}, environment "
                      f"{cc.get('environment')}, devtools {cc.get('devtools_mode')}", details)
    if cc["cc_feature"] == "on" and cc.get("environment") != "PROD":
        obs.blocker = f"CC environment is {cc.get('environment')}, not PROD"
    elif cc["cc_feature"] == "on" and cc.get("devtools_mode") == "on":
        obs.blocker = "DevTools mode is on: debugging/profiling is open, not a protected setup"
    return obs


@check("nvml_cpu_caps", "CPU TEE capability seen by the GPU driver (TDX / SEV-SNP)")
def nvml_cpu_caps(ctx: Context) -> Observation:
    if (none := _no_gpu(ctx)) is not None:
        return none
    caps = ctx.cc.get("cpu_caps")
    details = {"cpu_caps": caps, "gpus_caps": ctx.cc.get("gpus_caps")}
    if caps is None:
        return Observation(None, f"NVML gave no CC capabilities: {ctx.cc.get('reasons')}", details)
    if caps in ("intel-tdx", "amd-sev-snp", "amd-snp-vtom"):
        return Observation("on", f"the driver runs on a {caps} CPU TEE", details)
    if caps == "amd-sev":
        return Observation(None, "plain SEV (no SNP): GPU CC needs TDX or SEV-SNP", details)
    return Observation("off", "the driver sees no CPU TEE", details)


@check("gpus_ready", "GPUs ready state (accepting work after attestation)", required_for_on=True)
def gpus_ready(ctx: Context) -> Observation:
    if (none := _no_gpu(ctx)) is not None:
        return none
    ready = ctx.cc.get("gpus_ready")
    if ready is None:
        return Observation(None, f"NVML gave no ready state: {ctx.cc.get('reasons')}")
    if ready:
        return Observation("on", "GPUs accept client requests (ready state set)")
    obs = Observation("off", "GPUs are not in the CC ready state")
    if ctx.cc.get("cc_feature") == "on":
        obs.observed = None
        obs.blocker = ("CC is on but the ready state is not set "
                       "(attest, then `nvidia-smi conf-compute -srs 1`)")
    return obs


def _dmesg_lines() -> tuple[list[str], str | None]:
    try:
        res = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"dmesg not runnable: {exc}"
    if res.returncode != 0:
        return [], f"dmesg not readable: {res.stderr.strip()[:120]}"
    keys = ("Memory Encryption Features active", "tdx:", "TDX", "SEV-SNP", "sev-guest", "tdx_guest")
    return [ln.strip() for ln in res.stdout.splitlines() if any(k in ln for k in keys)][:20], None


@check("guest_markers", "Guest TEE markers (cpuinfo flags, /dev/tdx_guest, /dev/sev-guest, "
       "configfs-tsm, dmesg)")
def guest_markers(ctx: Context) -> Observation:
    facts = tee_facts(ctx.root)
    lines, why = _dmesg_lines() if ctx.root == Path("/") else ([], "not the live root")
    details = {**facts, "dmesg": lines, "dmesg_reason": why}
    if facts["kind"]:
        evidence = facts["cpu_flags"] + facts["devices"]
        return Observation("on", f"{facts['kind']} guest: {', '.join(evidence)}", details)
    return Observation("off", "no TDX/SEV-SNP guest flag or device node", details)


@check("attestation_report", "Attestation report with a fresh 32-byte nonce (configfs-tsm, "
       "else the tdx_guest / sev-guest ioctl)")
def attestation_report(ctx: Context) -> Observation:
    rep = attest.fetch_report(ctx.tsm_root, ctx.nonce, ctx.tsm_entry)
    if not rep["present"] and not ctx.tsm_root.is_dir():
        dev = attest.fetch_device_report(ctx.root, ctx.nonce)  # kernels without configfs-tsm
        if dev["interface"] is not None:
            rep = {**dev, "configfs_tsm": rep["reason"]}
    if rep["present"] and rep["nonce_echoed"]:
        return Observation("on", f"{rep['provider']} report of {rep['size']} bytes echoes our nonce", rep)
    if rep["present"]:
        return Observation(None, rep["reason"] or "report without our nonce", rep,
                           blocker="the attestation report does not echo the fresh nonce")
    if rep.get("interface") and "configfs_tsm" in rep:  # a guest device that did not answer
        return Observation(None, rep["reason"] or "no report", rep)
    return Observation("off", rep["reason"] or "no attestation interface", rep)


@check("bounce_buffer_probe", "Pinned H2D/D2H bandwidth (bounce buffers in CC mode)", probe=True)
def bounce_buffer_probe(ctx: Context) -> Observation:
    if (none := _no_gpu(ctx)) is not None:
        return none
    res = bandwidth.probe()
    observed, reason = bandwidth.classify(res["h2d_gbps"], res["d2h_gbps"])
    return Observation(observed, res["reason"] or reason, res)


def status_of(obs: Observation, expect: str, required: bool) -> str:
    if obs.blocker and expect == "on":
        return "fail"
    if obs.observed is None:
        return "fail" if required and expect == "on" and obs.blocker else "unknown"
    return "pass" if obs.observed == expect else "fail"


def validate(expect: str = "on", *, probe: bool = False, ctx: Context | None = None) -> dict[str, Any]:
    """Run every registered check; verdict and exit code (0 holds, 1 does not, 3 no GPU)."""
    if expect not in ("on", "off"):
        raise ValueError("expect must be 'on' or 'off'")
    ctx = ctx or Context()
    opened = False
    if ctx.nv is None:
        ctx.nv, ctx.nvml_reason, ctx.nvml_source = N.open_nvml()
        opened = ctx.nv is not None
    try:
        if ctx.nv is not None:
            ctx.gpu_count, why = N.device_count(ctx.nv)
            ctx.nvml_reason = ctx.nvml_reason or why
            ctx.cc = N.cc_state(ctx.nv) if ctx.gpu_count else {}
        results = []
        for name, chk in CHECKS.items():
            if chk.probe and not probe:
                continue
            try:
                obs = chk.fn(ctx)
            except Exception as exc:  # a check that crashes is an unknown, with the reason
                obs = Observation(None, f"check crashed: {type(exc).__name__}: {exc}")
            results.append({
                "name": name, "title": chk.title, "observed": obs.observed,
                "status": status_of(obs, expect, chk.required_for_on),
                "reason": obs.blocker or obs.reason, "details": obs.details,
                "required": chk.required_for_on and expect == "on",
            })
    finally:
        if opened:
            N.close_nvml(ctx.nv)
    return {"expect": expect, "nvml_source": ctx.nvml_source, "gpus": ctx.gpu_count,
            "checks": results, **verdict(results, ctx.gpu_count, ctx.nvml_reason, expect)}


def verdict(results: list[dict[str, Any]], gpus: int, nvml_reason: str | None,
            expect: str) -> dict[str, Any]:
    if gpus == 0:
        return {"verdict": "no GPU", "exit_code": EXIT_NO_GPU,
                "summary": f"no NVIDIA GPU on this host ({nvml_reason or 'NVML found none'}): "
                "GPU CC mode cannot be validated"}
    failed = [r["name"] for r in results if r["status"] == "fail"]
    missing = [r["name"] for r in results if r["required"] and r["status"] != "pass"]
    if failed or missing:
        names = ", ".join(dict.fromkeys(failed + missing))
        return {"verdict": "does not hold", "exit_code": EXIT_FAILS,
                "summary": f"CC {expect} does not hold: {names}"}
    passed = sum(r["status"] == "pass" for r in results)
    return {"verdict": "holds", "exit_code": EXIT_HOLDS,
            "summary": f"CC {expect} holds ({passed} checks pass, "
            f"{sum(r['status'] == 'unknown' for r in results)} unknown)"}
