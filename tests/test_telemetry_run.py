"""A real run (execute_run against the ground-truth SSE server) carries telemetry end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiler.store import read_run
from profiler.telemetry.breakdown import breakdown

pytestmark = pytest.mark.integration


def test_run_directory_has_fingerprint_telemetry_and_a_breakdown(tmp_path: Path, gt_url: str) -> None:
    from profiler.config import WorkloadSpec
    from tests.support.runs import run_once

    workload = WorkloadSpec(num_requests=12, concurrency=4, input_len=16, output_len=8, warmup=0, seed=1)
    path = run_once(tmp_path, endpoint=gt_url, served_model="gt", workload=workload, label="on",
                       metrics_url=gt_url + "/metrics", progress=False)
    run = read_run(path)
    env = run.manifest.environment
    assert env["host"]["cpu_cores"] >= 1 and "gpus" in env and "tee" in env
    tele = run.manifest.model_dump()["telemetry"]
    assert tele["server_metrics"]["scrapes"] >= 2 and tele["server_metrics"]["errors"] == 0
    assert tele["cost"]["cpu_ms"] > 0
    sm = run.table("server_metrics")
    assert sm is not None and "vllm:num_requests_running" in set(sm["name"])
    # scrapes and requests share one clock: some scrape falls inside the run window
    b = breakdown(run)
    assert b["available"] and b["output_tokens"] == 12 * 8
    # the ground-truth server exposes gauges but no latency histograms: no split, and why
    split = b["latency_split"]
    assert split["available"] is False and "request_queue_time_seconds" in split["reason"]
    assert split["gauges"]["num_requests_running"]["scrapes"] >= 2  # bracketing scrapes
