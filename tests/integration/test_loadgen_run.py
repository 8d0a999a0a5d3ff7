"""execute_run and `tee-llm-prof run` end to end: run directories, failures, stops, Ctrl-C."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loadgen.metrics import REQUEST_COLUMNS
from profiler.config import WorkloadSpec
from profiler.errors import UserError
from profiler.results.run import ExperimentRef
from profiler.store import read_run
from tests.support.runs import run_once
from tests.support.servers import ROOT, free_port, gt_log, gt_server

pytestmark = pytest.mark.integration


def wl(**kw: object) -> WorkloadSpec:
    base: dict[str, object] = {"num_requests": 24, "input_len": 8, "output_len": 8, "concurrency": 4}
    base.update(kw)
    return WorkloadSpec.model_validate(base)


def test_run_directory_contract(tmp_path: Path) -> None:
    with gt_server("--ttft-ms", "10", "--itl-ms", "2") as url:
        path = run_once(
            tmp_path, endpoint=url, served_model="gt-model", workload=wl(slos={"ttft": 1000}),
            label="off", model_key="tiny", engine={"name": "external"}, progress=False,
            metrics_url=url + "/metrics",
            experiment=ExperimentRef(kind="profile", id="p1", leg="off", point="rate=inf"),
        )
        log = gt_log(url)
    run = read_run(path)
    m = run.manifest.model_dump()
    assert run.complete and m["label"] == "off" and m["model"] == "tiny" and m["experiment"]["id"] == "p1"
    assert m["tokenizer_mode"] == "endpoint"  # the ground-truth server answers /tokenize
    assert m["environment"]["host"] and m["tool_version"]
    assert m["workload"]["num_requests"] == 24 and math.isinf(m["request_rate"])
    assert m["loadgen"]["warmup_requests"] == 4 and m["loadgen"]["schedule"] == "inf"
    req = run.requests
    assert set(REQUEST_COLUMNS) <= set(req.columns) and len(req) == 24
    assert req["ok"].all() and not req["warmup"].any()
    assert (req["input_tokens"] == 8).all() and (req["output_tokens"] == 8).all()
    warm = run.table("warmup")
    assert warm is not None and len(warm) == 4 and warm["warmup"].all()
    assert len(log["requests"]) == 28  # 4 warm-up + 24 measured, nothing else sent
    s = run.llm.model_dump()
    assert s["completed"] == 24 and s["failed"] == 0 and s["request_goodput"] > 0
    assert s["tokenizer_mode"] == "endpoint" and isinstance(s["client_bound"], bool)
    assert run.table("server_metrics") is not None


def test_same_seed_same_prompts_in_the_same_order(tmp_path: Path) -> None:
    with gt_server("--ttft-ms", "1", "--itl-ms", "1") as url:
        a = run_once(tmp_path / "a", endpoint=url, served_model="m", workload=wl(), progress=False)
        b = run_once(tmp_path / "b", endpoint=url, served_model="m", workload=wl(), progress=False)
        c = run_once(tmp_path / "c", endpoint=url, served_model="m", workload=wl(seed=1), progress=False)
    ha, hb, hc = (read_run(p).requests["prompt_hash"].tolist() for p in (a, b, c))
    assert ha == hb and ha != hc


@pytest.mark.parametrize(
    ("fault", "expect"),
    [
        ("http500", "HTTP 500: injected failure"),
        ("drop", "connection closed mid-stream"),
        ("garbage", "malformed SSE event"),
        ("error_event", "server error event: injected server error"),
    ],
)
def test_failures_are_recorded_not_fatal(tmp_path: Path, fault: str, expect: str) -> None:
    with gt_server("--ttft-ms", "5", "--itl-ms", "1", "--fault", fault, "--fault-every", "3") as url:
        path = run_once(tmp_path, endpoint=url, served_model="m", workload=wl(), progress=False)
    run = read_run(path)
    req = run.requests
    bad = req[~req["ok"]]
    assert run.complete and len(req) == 24
    assert 6 <= len(bad) <= 10  # every third request the server saw (warm-ups included)
    assert all(str(e).startswith(expect) for e in bad["error"]), bad["error"].tolist()
    assert req["ok"].sum() >= 14 and run.llm.failed == len(bad)
    if fault == "drop":  # the next request on that slot opened a new connection, timed apart
        fresh = req[req["new_connection"]]
        assert len(fresh) >= 1 and (fresh["connect_ms"] > 0).all()


def test_slow_response_head_is_not_hidden(tmp_path: Path) -> None:
    with gt_server("--ttft-ms", "40", "--itl-ms", "1", "--fault", "slow_headers") as url:
        path = run_once(
            tmp_path, endpoint=url, served_model="m", workload=wl(num_requests=8), progress=False
        )
    req = read_run(path).requests
    assert req["ok"].all() and (req["headers_ms"] >= 40).all() and (req["ttft_ms"] >= req["headers_ms"]).all()


def test_timeout_is_a_recorded_failure(tmp_path: Path) -> None:
    with gt_server("--ttft-ms", "3000", "--itl-ms", "1") as url:
        path = run_once(
            tmp_path, endpoint=url, served_model="m", progress=False,
            workload=wl(num_requests=4, concurrency=4, warmup=0, timeout_s=0.3),
        )
    req = read_run(path).requests
    assert (~req["ok"]).all() and (req["error"] == "timeout after 0.3 s").all()


def test_unreachable_endpoint_is_one_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UserError, match="cannot reach"):
        run_once(tmp_path, endpoint=url, served_model="m", workload=wl(), progress=False)
    (run_dir,) = tmp_path.iterdir()
    assert read_run(run_dir).manifest.status == "incomplete"


def when_served(url: str, n: int, action: object) -> threading.Thread:
    """Call ``action`` once the server has logged ``n`` requests (measured load is flowing)."""

    def poll() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if len(gt_log(url)["requests"]) >= n:
                    break
            except OSError:
                return
            time.sleep(0.05)
        action()  # type: ignore[operator]

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    return t


def test_stop_flag_saves_an_incomplete_run(tmp_path: Path) -> None:
    stop = threading.Event()
    with gt_server("--ttft-ms", "20", "--itl-ms", "20") as url:
        when_served(url, 12, stop.set)
        path = run_once(
            tmp_path, endpoint=url, served_model="m", progress=False, stop=stop,
            workload=wl(num_requests=200, output_len=20),
        )
    run = read_run(path)
    assert run.manifest.status == "incomplete" and run.manifest.reason == "stopped"
    req = run.requests
    assert 0 < req["ok"].sum() < 200
    assert set(req.loc[~req["ok"], "error"]) <= {"cancelled: the run was stopped"}


def test_duration_stops_sending(tmp_path: Path) -> None:
    with gt_server("--ttft-ms", "10", "--itl-ms", "5") as url:
        path = run_once(
            tmp_path, endpoint=url, served_model="m", progress=False, request_rate=20.0,
            workload=wl(num_requests=1000, duration_s=1.0),
        )
    run = read_run(path)
    req = run.requests
    # seed 0 puts 14 of the 1000 Poisson arrivals inside the first second; none after is sent
    assert run.complete and 1 <= len(req) <= 14 and req["ok"].all()
    assert ((req["target_ns"] - int(run.manifest.t0_ns or 0)) < 1_000_000_000).all()


def test_server_death_mid_run(tmp_path: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "tests.support.gt_server", "--port", str(port), "--ttft-ms", "10",
           "--itl-ms", "10"]
    server = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from tests.support.servers import wait_http

        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/health", proc=server)
        when_served(url, 20, server.kill)
        path = run_once(tmp_path, endpoint=url, served_model="m", progress=False,
                           workload=wl(num_requests=500, output_len=10))
    finally:
        server.kill()
        server.wait()
    run = read_run(path)
    assert run.manifest.status == "incomplete"
    assert str(run.manifest.reason).startswith("server unreachable")
    assert run.requests["ok"].sum() > 0 and len(run.requests) < 500
    # every ok row was sent and streamed; every other row says why it failed
    req = run.requests
    ok = req[req["ok"]]
    assert (ok["sent_ns"] > 0).all() and (ok["output_tokens"] > 0).all() and ok["error"].isna().all()
    assert req.loc[~req["ok"], "error"].notna().all()
    assert run.llm.completed == int(req["ok"].sum())


def test_cli_run_and_ctrl_c(tmp_path: Path) -> None:
    with gt_server("--ttft-ms", "5", "--itl-ms", "2") as url:
        cli = [sys.executable, "-m", "profiler.cli", "run", "--endpoint", url, "--served-model", "gt-model",
               "--input-len", "8", "--output-len", "4", "--concurrency", "4", "--no-progress"]
        done = subprocess.run([*cli, "--num-requests", "12", "--out", str(tmp_path / "ok")],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "client health" in done.stdout and "TTFT (ms)" in done.stdout
        (ok_dir,) = (tmp_path / "ok").iterdir()
        assert read_run(ok_dir).complete

        proc = subprocess.Popen([*cli, "--num-requests", "5000", "--out", str(tmp_path / "int")],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until measured requests are flowing
            time.sleep(0.2)
            if len(gt_log(url)["requests"]) > 30:
                break
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    (int_dir,) = (tmp_path / "int").iterdir()
    run = read_run(int_dir)
    assert run.manifest.status == "incomplete" and run.manifest.reason == "interrupted (Ctrl-C)"
    assert 0 < len(run.requests) < 5000
    assert json.loads((int_dir / "summary.json").read_text())["completed"] > 0
    assert math.isfinite(run.llm.get("mean_ttft_ms"))


def test_cli_bad_input_is_one_line(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "profiler.cli", "run", "--endpoint", "http://127.0.0.1:1", "--served-model",
         "m", "--out", str(tmp_path), "--slo", "ttft"], cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0
    assert out.stderr.startswith("error: argument --slo: expected KEY=MS")
