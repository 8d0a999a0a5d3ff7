"""The CC fields through the NVML replay layer: state, environment, DevTools, multi-GPU mode,
ready state and protected memory, on hand-made sessions (their ``source`` says so)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from profiler.gpu.cc import cc_label, read_cc
from profiler.telemetry import nvml as N
from profiler.telemetry.replay import ReplayNvml

FIXTURES = Path(__file__).parent / "fixtures" / "nvml"

# fixture → (cc_feature, environment, devtools, multi-GPU mode, gpus_ready, protected KiB, used MiB)
EXPECTED: dict[str, tuple[Any, ...]] = {
    "h100_cc_on.json": ("on", "PROD", "off", "none", True, 82_995_840, 1100.0),
    "h100_cc_off.json": ("off", "unavailable", "off", "none", False, None, None),
    "h200_cc_on_ppcie.json": ("on", "PROD", "off", "protected-pcie", True, 146_800_640, 1024.0),
    "h100_cc_devtools_old_driver.json": ("on", "SIM", "on", None, False, 80_740_352, None),
}


def _open(name: str) -> Any:
    nv = ReplayNvml.from_file(FIXTURES / name)
    nv.nvmlInit()
    return nv


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cc_fields_replay(name: str) -> None:
    feature, env, devtools, multi, ready, prot_kib, used_mib = EXPECTED[name]
    assert json.loads((FIXTURES / name).read_text())["source"] == "hand-written from NVML docs, not captured"
    nv = _open(name)
    cc = N.cc_state(nv)
    assert (cc["cc_feature"], cc["environment"], cc["devtools_mode"], cc["multi_gpu_mode"],
            cc["gpus_ready"]) == (feature, env, devtools, multi, ready)
    mem = N.cc_protected_memory(nv, 0)
    assert mem["protected_mem_kib"] == prot_kib
    assert mem["protected_used_mib"] == used_mib
    if feature == "off":  # protected memory exists only in CC mode: the reason says NOT_SUPPORTED
        assert N.is_unsupported(mem["reasons"]["mem_size"])
        assert N.is_unsupported(mem["reasons"]["protected_usage"])


def test_an_old_driver_falls_back_to_the_state_call_and_says_why() -> None:
    cc = N.cc_state(_open("h100_cc_devtools_old_driver.json"))
    reason = cc["reasons"]["multi_gpu_mode"]
    assert reason.startswith("nvmlSystemGetConfComputeSettings:") and N.error_code(reason) == 13
    assert "function not found" in reason


def test_read_cc_goes_through_the_replay_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(N.REPLAY_ENV, str(FIXTURES / "h200_cc_on_ppcie.json"))
    cc = read_cc(0, uuid="11111111-2222-3333-4444-555555555555")  # torch's form: no "GPU-" prefix
    assert cc["cc"] == "on" and cc["nvml_source"].startswith("replay:")
    assert cc["nvml_match"] == "uuid" and cc["nvml_index"] == 0
    assert cc["multi_gpu_mode"] == "protected-pcie" and cc["protected"]["protected_used_mib"] == 1024.0
    other = read_cc(0, uuid="ffffffff-0000-0000-0000-000000000000")
    assert other["nvml_match"] == "index (no UUID match)"
    monkeypatch.setenv(N.REPLAY_ENV, str(FIXTURES / "no_driver.json"))
    none = read_cc(0)
    assert none["cc"] == "unknown" and "library not found" in none["reasons"]["nvml"].lower()


def test_cc_label() -> None:
    assert cc_label({"cc_feature": "on"}) == "on" and cc_label({"cc_feature": "off"}) == "off"
    assert cc_label({"cc_feature": None}) == "unknown" and cc_label({}) == "unknown"


def test_validate_reads_the_same_fields(tmp_path: Path) -> None:
    from profiler.validate import EXIT_FAILS, Context, validate

    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text("flags\t: fpu\n")
    ctx = Context(root=tmp_path, tsm_root=tmp_path / "no-tsm", nv=_open("h100_cc_devtools_old_driver.json"))
    r = validate("on", ctx=ctx)
    checks = {c["name"]: c for c in r["checks"]}
    assert r["exit_code"] == EXIT_FAILS
    assert "SIM" in checks["nvml_cc_state"]["reason"] and checks["nvml_cc_state"]["status"] == "fail"
    assert checks["nvml_cc_state"]["details"]["multi_gpu_mode"] is None
    assert checks["gpus_ready"]["status"] == "fail" and "ready state" in checks["gpus_ready"]["reason"]
    ctx = Context(root=tmp_path, tsm_root=tmp_path / "no-tsm", nv=_open("h200_cc_on_ppcie.json"))
    checks = {c["name"]: c for c in validate("on", ctx=ctx)["checks"]}
    assert checks["nvml_cc_state"]["status"] == "pass" and checks["gpus_ready"]["status"] == "pass"
    assert checks["nvml_cc_state"]["details"]["multi_gpu_mode"] == "protected-pcie"
    assert checks["nvml_cpu_caps"]["observed"] == "on"  # SEV-SNP
