"""NVML sampler on recorded answers (H100 CC off / on, no driver) and on this host for real."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from profiler.telemetry.replay import ReplayNvml
from profiler.telemetry.sampler import GPM_METRICS, TELEMETRY_COLUMNS, NvmlSampler

FIXTURES = Path(__file__).parent / "fixtures" / "nvml"


def sample(fixture: str, ticks: int = 8) -> NvmlSampler:
    """Drive the sampler tick by tick (no thread, no sleeping): deterministic."""
    s = NvmlSampler(interval_s=0.1, gpm_every_s=0.1, nvml=ReplayNvml.from_file(FIXTURES / fixture))
    assert s.setup()
    for i in range(ticks):
        s.tick(1_000_000_000 + i * 100_000_000)
        s.ticks += 1
    s.teardown()
    return s


def test_cc_off_rows_follow_the_recorded_answers() -> None:
    s = sample("h100_cc_off.json")
    t = s.table()
    assert t is not None and list(t.columns) == list(TELEMETRY_COLUMNS)
    assert len(t) == 8 and set(t["gpu"]) == {0}
    assert list(t["gpu_util_pct"][:3]) == [0.0, 38.0, 97.0]
    assert t["power_w"].iloc[0] == 71.0 and t["power_w"].iloc[3] == 688.0
    assert t["energy_mj"].iloc[2] - t["energy_mj"].iloc[0] == 105_700
    assert t["sm_clock_mhz"].iloc[1] == 1980 and t["clock_event_reasons"].iloc[0] == 1
    # GPM works out of CC mode; the first row has no earlier GPM sample to diff against
    assert math.isnan(t["gpm_sm_util_pct"].iloc[0]) and t["gpm_sm_util_pct"].iloc[1] == 93.5
    summary = s.summary()
    assert summary["available"] and not summary["cc_mode"]
    assert summary["fields"]["gpm_tensor_util_pct"] == "ok"
    assert summary["fields"]["cc_protected_used_mib"].startswith("CC mode off")
    assert t["cc_protected_used_mib"].isna().all()
    u = s.util_table()
    assert u is not None and list(u["util_pct"]) == [0, 12, 88, 99, 100, 97, 99, 100]
    # driver timestamps (wall µs) are moved onto the perf_counter clock, spacing kept
    assert (u["t_ns"].diff().dropna() == 16_667_000).all()


def test_cc_on_reports_gpm_unavailable_never_zero() -> None:
    s = sample("h100_cc_on.json")
    t = s.table()
    assert t is not None
    summary = s.summary()
    assert summary["cc_mode"]
    for col in GPM_METRICS:
        assert summary["fields"][col].startswith("unavailable (CC mode)")
        assert t[col].isna().all()  # None, not 0.0
    assert summary["fields"]["cc_protected_used_mib"] == "ok"
    assert t["cc_protected_used_mib"].iloc[1] == 71 * 1024


def test_no_driver_is_reported_not_raised() -> None:
    s = NvmlSampler(nvml=None)
    s._given = ReplayNvml.from_file(FIXTURES / "no_driver.json")
    assert s.setup() is False or s.table() is None


def test_thread_measures_its_own_cost() -> None:
    s = NvmlSampler(interval_s=0.01, nvml=ReplayNvml.from_file(FIXTURES / "h100_cc_off.json"))
    s.start()
    while s.ticks < 5:
        s._halt.wait(0.01)
    s.stop()
    cost = s.summary()["cost"]
    assert cost["ticks"] >= 5 and cost["cpu_ms"] > 0 and cost["mean_tick_us"] > 0


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this host has a GPU")
def test_real_code_path_without_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEE_LLM_PROF_NVML_REPLAY", raising=False)
    s = NvmlSampler(interval_s=0.05)
    s.start()
    s.stop()
    summary = s.summary()
    assert summary["available"] is False and summary["source"] == "nvml"
    assert "NVML" in summary["reason"]
    assert s.table() is None


def test_driver_timestamps_on_either_clock() -> None:
    s = NvmlSampler()
    s.anchor_wall_ns, s.anchor_perf_ns = 1_795_000_000_000_000_000, 5_000_000_000_000
    assert s._to_perf_ns(1_795_000_000_000_000 + 7) == 5_000_000_000_000 + 7_000  # wall µs
    assert s.driver_clock == "wall"
    m = NvmlSampler()
    m.anchor_wall_ns, m.anchor_perf_ns = 1_795_000_000_000_000_000, 5_000_000_000_000
    assert m._to_perf_ns(5_000_000_123) == 5_000_000_123_000  # monotonic µs, kept as is
    assert m.driver_clock == "monotonic"


def test_cc_mode_gpm_zeros_while_busy_are_not_reported(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "h100_cc_on.json").read_text())
    data["calls"]["nvmlGpmSampleGet:gpu0"] = [{"value": None}]
    data["calls"]["nvmlGpmMetricsGet"] = [{"value": [
        {"metricId": m, "nvmlReturn": 0, "value": 0.0} for m in (2, 5, 10, 20, 21)]}]
    path = tmp_path / "zeros.json"
    path.write_text(json.dumps(data))
    s = NvmlSampler(interval_s=0.1, gpm_every_s=0.1, nvml=ReplayNvml.from_file(path))
    assert s.setup()
    for i in range(4):
        s.tick(i)
        s.ticks += 1
    t = s.table()
    assert t is not None
    for col in GPM_METRICS:
        assert t[col].isna().all()
        assert "GPM reads 0 while the GPU is busy" in s.summary()["fields"][col]
