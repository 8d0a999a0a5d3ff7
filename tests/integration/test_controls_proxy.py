"""The injection proxy adds exactly the cost it claims: checked against the ground-truth server's
own log of when it wrote each event, and against the same requests sent direct."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from profiler.config import WorkloadSpec
from profiler.controls.launch import injected_leg
from profiler.controls.proxy import Cost, parse_cost
from profiler.experiment.legs import Leg
from profiler.store import read_run
from tests.support.runs import run_once
from tests.support.servers import ROOT, gt_log, gt_server

pytestmark = pytest.mark.integration

X_MS, Y_US = 4.0, 1500.0
WL = WorkloadSpec(num_requests=24, concurrency=2, input_len=8, output_len=10, warmup=2, seed=3)


def _delays(run_dir: Path, log: dict[str, Any]) -> np.ndarray:
    """Per content event i: client's arrival stamp − server's write stamp, and i."""
    writes = {r["request_id"]: r["write_ns"] for r in log["requests"]}
    req = read_run(run_dir).requests
    out = []
    for _, row in req.iterrows():
        w = writes[row["request_id"]]
        stamps = [row["first_ns"], *(row["first_ns"] + np.cumsum(np.asarray(row["itl_ms"]) * 1e6))]
        for i, (c, s) in enumerate(zip(stamps, w, strict=False)):
            out.append((i, (c - s) / 1e6))
    return np.array(out)


def test_proxy_adds_the_first_byte_and_per_event_costs(tmp_path: Path) -> None:
    cost = Cost(first_byte_ms=X_MS, per_event_us=Y_US)
    with gt_server("--ttft-ms", "20", "--itl-ms", "5") as url:
        base = Leg("off", url, "gt-model")
        direct = run_once(tmp_path / "direct", endpoint=url, served_model="gt-model", workload=WL)
        d_direct = _delays(direct, gt_log(url))
        with injected_leg(base, "injected", cost, log=tmp_path / "proxy.jsonl") as leg:
            assert leg.base_url != url and leg.engine["control"]["per_event_us"] == Y_US
            proxied = run_once(
                tmp_path / "proxied", endpoint=leg.base_url, served_model="gt-model", workload=WL
            )
            d_proxy = _delays(proxied, gt_log(url))
    # through the proxy, event i arrives X + i·Y later than the server wrote it (plus transit)
    planned = X_MS + d_proxy[:, 0] * Y_US / 1e3
    residual = d_proxy[:, 1] - planned
    transit = np.median(d_direct[:, 1])
    assert abs(np.median(residual) - transit) < 0.5, (np.median(residual), transit)
    assert np.percentile(residual, 90) - transit < 2.0
    # the client sees it as TTFT + X and ITL + Y
    a, b = read_run(proxied).llm, read_run(direct).llm
    assert a.value("mean_ttft_ms") - b.value("mean_ttft_ms") == pytest.approx(X_MS, abs=1.0)  # type: ignore[operator]
    assert a.value("mean_itl_ms") - b.value("mean_itl_ms") == pytest.approx(Y_US / 1e3, abs=0.4)  # type: ignore[operator]
    # and the proxy's own log: every piece released at its planned instant
    log = [json.loads(line) for line in (tmp_path / "proxy.jsonl").read_text().splitlines()]
    late = np.array([(p["released_ns"] - p["planned_ns"]) / 1e6 for p in log])
    assert len(log) > 24 and np.median(late) < 0.3 and np.percentile(late, 95) < 2.0
    # bytes are forwarded unchanged: the proxied run parsed every response
    assert read_run(proxied).requests["ok"].all() and read_run(proxied).llm.completed == 24


def test_cost_parsing_and_cli_errors() -> None:
    assert parse_cost("first_byte_ms=5,per_event_us=800") == Cost(5.0, 800.0)
    assert parse_cost("per_event_us=1").first_byte_ms == 0
    for bad in ("", "per_event=3", "per_event_us=x", "first_byte_ms=-1"):
        with pytest.raises(ValueError):
            parse_cost(bad)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "profiler.cli",
            "inject",
            "--upstream",
            "http://127.0.0.1:9",
            "--listen",
            "0.0.0.0:0",
            "--per-event-us",
            "5",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2 and "loopback only" in res.stderr and res.stderr.count("\n") == 1
    assert math.isfinite(Cost(1, 2).delay_ns(3))
