"""Environment fingerprint: real on this host, TEE markers on hand-made /proc and /dev trees."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from profiler.env import cpuinfo, endpoint_facts, fingerprint, tee_facts
from profiler.telemetry.nvml import REPLAY_ENV

FIXTURES = Path(__file__).parent / "fixtures" / "nvml"


def fake_root(tmp: Path, flags: str, devices: tuple[str, ...] = (), tsm: bool = False) -> Path:
    (tmp / "proc").mkdir(parents=True)
    (tmp / "proc/cpuinfo").write_text(
        f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu {flags}\n\nprocessor\t: 1\n")
    for d in devices:
        (tmp / d).parent.mkdir(parents=True, exist_ok=True)
        (tmp / d).write_text("")
    if tsm:
        (tmp / "sys/kernel/config/tsm/report").mkdir(parents=True)
    return tmp


def test_fingerprint_on_this_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REPLAY_ENV, raising=False)
    fp = fingerprint()
    json.dumps(fp)  # plain JSON values only
    assert fp["host"]["cpu_cores"] >= 1 and fp["host"]["memory_gib"] > 0
    assert fp["host"]["kernel"] and fp["host"]["python"]
    assert fp["packages"]["tee-llm-prof"] and fp["packages"]["nvidia-ml-py"]
    if shutil.which("nvidia-smi") is None:
        assert fp["gpus"] == [] and "NVML" in fp["gpus_reason"]


def test_fingerprint_with_replayed_h100(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REPLAY_ENV, str(FIXTURES / "h100_cc_on.json"))
    fp = fingerprint()
    assert fp["nvml_source"].startswith("replay:")  # never mistaken for a measurement
    gpu = fp["gpus"][0]
    assert gpu["name"] == "NVIDIA H100 80GB HBM3" and gpu["architecture"] == "hopper"
    assert fp["driver_version"] == "550.54.15" and fp["cuda_driver_version"] == "12.4"
    assert fp["cc"]["cc_feature"] == "on" and fp["cc"]["cpu_caps"] == "intel-tdx"


def test_tee_markers(tmp_path: Path) -> None:
    tdx = tee_facts(fake_root(tmp_path / "tdx", "tdx_guest", ("dev/tdx_guest",), tsm=True))
    assert tdx == {"kind": "tdx", "cpu_flags": ["tdx_guest"], "devices": ["/dev/tdx_guest"],
                   "configfs_tsm": True}
    snp = tee_facts(fake_root(tmp_path / "snp", "sev sev_es sev_snp", ("dev/sev-guest",)))
    assert snp["kind"] == "sev-snp" and snp["cpu_flags"] == ["sev", "sev_es", "sev_snp"]
    plain = tee_facts(fake_root(tmp_path / "plain", "sse4_2 hypervisor"))
    assert plain["kind"] is None and plain["devices"] == []


def test_cpuinfo_first_processor_only() -> None:
    info = cpuinfo("model name\t: A\nflags\t: x y\n\nmodel name\t: B\nflags\t: z\n")
    assert info == {"model": "A", "flags": ["x", "y"]}


def test_endpoint_version_or_reason(gt_url: str) -> None:
    facts = endpoint_facts(gt_url)  # the ground-truth server has no /version
    assert facts["server_version"] is None and "/version" in facts["reason"]
