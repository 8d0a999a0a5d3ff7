"""The NVML replay layer answers like pynvml, and a capture replays to the same answers."""

from __future__ import annotations

import ctypes
import json
from pathlib import Path

import pynvml
import pytest

from profiler.telemetry import nvml as N
from profiler.telemetry.replay import CaptureNvml, NotRecorded, ReplayNvml, from_jsonable, to_jsonable

FIXTURES = Path(__file__).parent / "fixtures" / "nvml"


def test_fixtures_say_they_are_hand_written() -> None:
    for path in FIXTURES.glob("*.json"):
        data = json.loads(path.read_text())
        assert data["source"], path
        if "captured" not in data["source"]:
            assert data["source"] == "hand-written from NVML docs, not captured", path


def test_values_errors_and_sequences() -> None:
    nv = ReplayNvml.from_file(FIXTURES / "h100_cc_off.json")
    nv.nvmlInit()
    h = nv.nvmlDeviceGetHandleByIndex(0)
    assert nv.nvmlDeviceGetName(h) == "NVIDIA H100 80GB HBM3"
    # a sequence advances per call and then holds its last answer
    powers = [nv.nvmlDeviceGetPowerUsage(h) for _ in range(10)]
    assert powers[:2] == [71000, 402000] and powers[-1] == powers[-2] == 684000
    # recorded error codes raise pynvml's own exception classes
    with pytest.raises(pynvml.NVMLError_NotSupported):
        nv.nvmlDeviceGetConfComputeProtectedMemoryUsage(h)
    with pytest.raises(NotRecorded):
        nv.nvmlDeviceGetFanSpeed(h)
    # constants and structures are pynvml's
    assert nv.NVML_CLOCK_SM == pynvml.NVML_CLOCK_SM
    assert nv.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM) == 345


def test_safe_turns_failures_into_reasons() -> None:
    nv = ReplayNvml.from_file(FIXTURES / "no_driver.json")
    value, reason = N.safe(nv.nvmlInit)
    assert value is None and reason is not None
    assert "library not found" in reason.lower() and N.error_code(reason) == 12
    _, reason = N.safe(lambda: (_ for _ in ()).throw(pynvml.NVMLError(3)))
    assert N.is_unsupported(reason)


def test_open_nvml_uses_the_replay_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(N.REPLAY_ENV, str(FIXTURES / "h100_cc_on.json"))
    nv, reason, source = N.open_nvml()
    assert reason is None and source.startswith("replay:")
    assert N.cc_state(nv)["cc_feature"] == "on"
    monkeypatch.setenv(N.REPLAY_ENV, str(FIXTURES / "missing.json"))
    nv, reason, _ = N.open_nvml()
    assert nv is None and "cannot read NVML replay file" in (reason or "")


def test_ctypes_round_trip() -> None:
    mem = pynvml.c_nvmlMemory_t(total=10, free=4, used=6)
    assert to_jsonable(mem) == {"total": 10, "free": 4, "used": 6}
    arr = (ctypes.c_uint8 * 3)(1, 2, 255)
    assert to_jsonable(arr) == {"__bytes__": "0102ff"}
    assert from_jsonable({"__bytes__": "0102ff"}) == b"\x01\x02\xff"
    ns = from_jsonable({"used": 6, "inner": {"uiVal": 3}})
    assert ns.used == 6 and ns.inner.uiVal == 3


def test_capture_then_replay_gives_the_same_answers(tmp_path: Path) -> None:
    """Capture wraps any pynvml-shaped object; on a GPU it wraps pynvml itself."""
    source = ReplayNvml.from_file(FIXTURES / "h100_cc_on.json")
    cap = CaptureNvml("test capture", real=source)
    cap.nvmlInit()
    facts = [N.device_info(cap, 0), N.cc_state(cap), N.system_info(cap), N.cc_protected_memory(cap, 0)]
    path = tmp_path / "cap.json"
    path.write_text(json.dumps(cap.dump()))
    again = ReplayNvml.from_file(path)
    again.nvmlInit()
    assert [N.device_info(again, 0), N.cc_state(again), N.system_info(again),
            N.cc_protected_memory(again, 0)] == facts
    assert facts[1]["environment"] == "PROD" and facts[0]["cc_protected_mem_kib"] == 82_995_840
    assert facts[3]["protected_used_mib"] == 1100.0 and facts[1]["gpus_ready"] is True
