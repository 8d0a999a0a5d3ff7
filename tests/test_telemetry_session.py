"""TelemetrySession: threads start and stop, tables appear only when they have rows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from profiler.telemetry import TelemetrySession
from profiler.telemetry.nvml import REPLAY_ENV

FIXTURES = Path(__file__).parent / "fixtures" / "nvml"


def test_session_with_replayed_gpu_and_real_metrics_endpoint(
    monkeypatch: pytest.MonkeyPatch, gt_url: str
) -> None:
    monkeypatch.setenv(REPLAY_ENV, str(FIXTURES / "h100_cc_on.json"))
    with TelemetrySession(metrics_url=gt_url + "/metrics", interval_s=0.02,
                          scrape_interval_s=0.02, host_interval_s=0.02) as tele:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
                tele.nvml is None or tele.nvml.ticks < 3
                or tele.scraper is None or tele.scraper.scrapes < 2):
            time.sleep(0.02)
    tables = tele.tables()
    assert {"telemetry", "server_metrics", "host"} <= set(tables)
    t0 = tele.anchor["perf_ns"]
    assert (tables["telemetry"]["t_ns"] >= t0).all()  # same clock as requests.parquet
    assert set(tables["server_metrics"]["name"]) >= {"vllm:num_requests_running"}
    summary = tele.summary()
    assert summary["nvml"]["source"].startswith("replay:") and summary["nvml"]["cc_mode"]
    assert summary["server_metrics"]["errors"] == 0
    assert summary["cost"]["cpu_ms"] > 0
    assert not any(t.is_alive() for t in tele._threads())


def test_session_without_gpu_or_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REPLAY_ENV, str(FIXTURES / "no_driver.json"))
    with TelemetrySession(host=False) as tele:
        pass
    assert tele.tables() == {}
    s = tele.summary()
    assert s["nvml"]["available"] is False and "library not found" in s["nvml"]["reason"].lower()
    assert s["server_metrics"]["scrapes"] == 0


def test_session_keeps_samples_when_the_run_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REPLAY_ENV, str(FIXTURES / "h100_cc_off.json"))
    tele = TelemetrySession(interval_s=0.01, host=False)
    with pytest.raises(KeyboardInterrupt), tele:
        while tele.nvml is not None and tele.nvml.ticks < 2:
            time.sleep(0.01)
        raise KeyboardInterrupt
    assert "telemetry" in tele.tables()

