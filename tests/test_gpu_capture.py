"""suite_gpu.json: the device check's fold of a gpu-suite run, and the checks a committed one passes."""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from profiler.gpu.capture import SCHEMA, check_capture
from profiler.suites import gpu as gpu_suite
from profiler.telemetry.nvml import REPLAY_ENV
from tests.gpu_fake import FakeGpu

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted((ROOT / "tests" / "fixtures" / "gpu").glob("*.json"))


def _device_check() -> Any:
    spec = importlib.util.spec_from_file_location("device_check", ROOT / "scripts" / "device_check.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def simulated() -> dict[str, Any]:
    """What `device_check.py suite-gpu` prints, on a simulated GPU with the CC-on NVML replay."""
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(gpu_suite, "open_ops", lambda device: (FakeGpu(), None))
        mp.setenv(REPLAY_ENV, str(ROOT / "tests/fixtures/nvml/h100_cc_on.json"))
        ns = argparse.Namespace(budget_s=70.0, label="on", suite_args=[
            "--copy-max", "1M", "--matmul-n", "1024", "--min-batch-ms", "5", "--repeats", "2"])
        data: dict[str, Any] = _device_check().cmd_suite_gpu(ns)
    finally:
        mp.undo()
    return json.loads(json.dumps(data, default=str))  # exactly what the file holds


def test_the_fold_holds_the_run_and_passes_the_checks(simulated: dict[str, Any]) -> None:
    assert simulated["schema"] == SCHEMA and simulated["error"] is None
    assert simulated["manifest"]["status"] == "complete"
    assert "--copy-budget-s" in simulated["argv"]
    assert check_capture(simulated) == []
    tolls = simulated["tolls_on_this_host"]
    assert tolls["basis"] == "on only" and tolls["launch_us"] == pytest.approx(5.0, rel=0.01)


@pytest.mark.parametrize(("damage", "problem"), [
    (lambda d: d["results"][0]["params"].update(cc="off"), "differs from the manifest"),
    (lambda d: d["results"][0]["params"].update(events="fine"), "unknown event verdict"),
    (lambda d: d["results"][0].update(value=-1.0), "not a positive number"),
    (lambda d: next(r for r in d["results"] if r["case"] == "fit").update(value=1e6), "refit gives"),
    (lambda d: d.update(schema="x"), "schema"),
])
def test_damage_is_found(simulated: dict[str, Any], damage: Any, problem: str) -> None:
    bad = copy.deepcopy(simulated)
    damage(bad)
    assert any(problem in p for p in check_capture(bad)), check_capture(bad)


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_committed_device_captures(path: Path) -> None:
    """Every suite_gpu.json a device session committed is consistent (none before the first run)."""
    data = json.loads(path.read_text())
    assert data["source"].startswith("captured on "), "fixtures here are real captures only"
    assert check_capture(data) == []


def test_a_step_stopped_by_its_time_limit_keeps_what_was_measured() -> None:
    """`timeout` sends SIGTERM, which the command turns into KeyboardInterrupt mid-suite."""

    class Stopped(FakeGpu):
        def tiny_kernel(self) -> Any:  # the launch step: after the copy sweep
            raise KeyboardInterrupt

    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(gpu_suite, "open_ops", lambda device: (Stopped(), None))
        mp.setenv(REPLAY_ENV, str(ROOT / "tests/fixtures/nvml/h100_cc_off.json"))
        ns = argparse.Namespace(budget_s=70.0, label="off", suite_args=[
            "--copy-max", "64K", "--min-batch-ms", "2", "--steps", "copy,launch"])
        data = _device_check().cmd_suite_gpu(ns)
    finally:
        mp.undo()
    assert data["manifest"]["status"] == "incomplete" and "time limit" in data["error"]
    assert {r["params"]["step"] for r in data["results"]} == {"copy"}
    assert all(r["params"]["cc"] == "off" for r in data["results"])
    assert "lacks" in data["tolls_on_this_host"]["reason"]
