"""The gpu suite end to end on a simulated GPU and a replayed NVML: run directory, CC on every row."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from profiler.commands import suite as suite_cmd
from profiler.store import read_run
from profiler.suites import gpu as gpu_suite
from profiler.telemetry.nvml import REPLAY_ENV
from tests.gpu_fake import FakeGpu

FIXTURES = Path(__file__).parent / "fixtures" / "nvml"
ARGS = ["gpu", "--label", "on", "--copy-max", "1M", "--matmul-n", "1024", "--min-batch-ms", "5",
        "--repeats", "2"]


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    suite_cmd.add_arguments(p)
    return p.parse_args(argv)


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> FakeGpu:
    gpu = FakeGpu(name="NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(gpu_suite, "open_ops", lambda device: (gpu, "00000000-0000-0000-0000-000000000000"))
    monkeypatch.setenv(REPLAY_ENV, str(FIXTURES / "h100_cc_on.json"))
    return gpu


def test_a_run_records_cc_and_the_timing_verdict_with_every_row(tmp_path: Path, fake_gpu: FakeGpu) -> None:
    assert suite_cmd.run(_parse([*ARGS, "--out", str(tmp_path)])) == 0
    (path,) = list(tmp_path.iterdir())
    run = read_run(path)
    assert run.manifest.status == "complete" and run.manifest.kind == "gpu"
    params = run.manifest.model_dump()["suite"]["params"]
    assert params["cc"]["cc"] == "on" and params["cc"]["environment"] == "PROD"
    assert params["cc"]["nvml_match"] == "uuid" and params["cc"]["protected"]["protected_mem_kib"]
    assert params["host_register"]["ok"] is False and "801" in params["host_register"]["detail"]
    support = params["matmul_support"]
    assert support["bf16"] == "ok" and support["int8"].startswith("unsupported")
    assert params["timing"]["clock"].startswith("host") and params["copy_sizes"][-1] == 1 << 20
    frame = run.table("results")
    assert frame is not None and set(frame["repeat"]) == {0, 1}
    rows = [json.loads(p) for p in frame["params"]]
    assert rows and all(p["cc"] == "on" for p in rows)
    assert {p["step"] for p in rows} == {"copy", "launch", "graph", "matmul"}
    timed = [p for p in rows if "events" in p]
    assert timed and {p["events"] for p in timed} == {"agree"}
    metrics = set(frame["metric"])
    for m in ("h2d_pinned_pipelined", "d2h_pageable_sync", "h2d_pinned_pipelined_latency",
              "d2h_pinned_sync_bandwidth", "launch_pipelined", "launch_round_trip", "graph_capture",
              "graph_replay", "matmul_bf16", "matmul_bf16_of_spec", "matmul_fp8"):
        assert m in metrics, m
    assert "matmul_int8" not in metrics  # unsupported: recorded in the manifest, never a made-up row
    assert (frame["value"] > 0).all()


def test_steps_and_options(tmp_path: Path, fake_gpu: FakeGpu) -> None:
    assert suite_cmd.run(_parse([*ARGS, "--steps", "launch", "--out", str(tmp_path)])) == 0
    frame = read_run(next(tmp_path.iterdir())).table("results")
    assert frame is not None and set(frame["metric"]) == {"launch_pipelined", "launch_enqueue",
                                                          "launch_round_trip"}
    with pytest.raises(SystemExit):
        _parse(["gpu", "--label", "on", "--out", str(tmp_path), "--steps", "copy,bogus"])
    with pytest.raises(SystemExit):
        _parse(["gpu", "--label", "on", "--out", str(tmp_path), "--matmul-dtypes", "fp4"])
    args = _parse(["gpu", "--label", "on", "--out", str(tmp_path), "--copy-min", "1M", "--copy-max", "4K"])
    from profiler.errors import UserError

    with pytest.raises(UserError, match="copy sizes"):
        gpu_suite._prepare(args)


def test_lying_events_reach_the_rows(tmp_path: Path, fake_gpu: FakeGpu) -> None:
    fake_gpu.events = "negative"
    assert suite_cmd.run(_parse([*ARGS, "--steps", "launch,graph", "--out", str(tmp_path)])) == 0
    frame = read_run(next(tmp_path.iterdir())).table("results")
    assert frame is not None
    timed = [json.loads(p) for p in frame["params"] if "events" in json.loads(p)]
    assert timed and {p["events"] for p in timed} == {"event_negative"}
    assert all(p["host_us"] > 0 for p in timed)
