"""Telemetry against a real vLLM CPU server: the /metrics parser on real output, the latency
split of a real run, and one real /metrics text saved as a fixture.

Starts the embedded tiny-llama engine (~1 min on 2 cores); marked integration + slow.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest

from profiler.telemetry.breakdown import breakdown
from profiler.telemetry.scrape import HISTOGRAMS, keep, parse_prometheus

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "vllm_metrics.txt"
N_REQUESTS = 24


def test_real_vllm_run_gives_a_latency_split(tmp_path: Path) -> None:
    pytest.importorskip("vllm")
    from profiler.config import WorkloadSpec, get_model
    from profiler.experiment.legs import resolve_legs
    from tests.support.runs import run_once

    entry = get_model("tiny-llama")
    workload = WorkloadSpec(num_requests=N_REQUESTS, concurrency=8, input_len=32, output_len=16,
                            warmup=2, seed=0)
    with resolve_legs(entry, key="tiny-llama", log_dir=tmp_path / "logs") as (on, _off):
        assert on.metrics_url
        run = run_once(tmp_path / "runs", endpoint=on.base_url, served_model=on.served_model,
                          workload=workload, label="on", model_key="tiny-llama",
                          metrics_url=on.metrics_url, progress=False)
        with urllib.request.urlopen(on.metrics_url, timeout=10) as r:
            text = r.read().decode()

    samples = parse_prometheus(text)
    names = {s.name for s in keep(samples)}
    for h in HISTOGRAMS[:3]:
        assert f"{h}_count" in names and f"{h}_sum" in names and f"{h}_bucket" in names
    if os.environ.get("TEE_LLM_PROF_SAVE_FIXTURES"):
        FIXTURE.write_text(text)

    b = breakdown(run)
    split = b["latency_split"]
    print("latency split (ms):", {k: v for k, v in split.items() if k not in ("server", "gauges")})
    assert split["available"], split.get("reason")
    # the scrapes bracket the run: the server counted our requests (warm-up may add a few)
    assert N_REQUESTS <= split["server_requests_counted"] <= N_REQUESTS + 2
    for key in ("queue_ms", "prefill_ms", "decode_ms"):
        assert split[key] >= 0
    assert split["decode_ms"] > 0 and split["prefill_ms"] > 0
    # the server's inference time cannot exceed what the client saw end to end (1 ms slack
    # for histogram/clock rounding); the rest is HTTP + API server + network + client
    assert split["server_ms"] <= split["client_e2el_ms"] + 1.0
    assert b["gpu"]["available"] is False  # no GPU here, and it says so
