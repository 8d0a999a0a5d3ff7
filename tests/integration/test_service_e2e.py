"""End to end: the real service (`tee-llm-prof serve` subprocess, real SQLite) runs real profiles
(`tee-llm-prof profile` subprocesses) against the in-repo ground-truth SSE server on loopback.

Ground truth: the TEE-on leg is a server with TTFT 100 ms, the TEE-off leg one with TTFT 40 ms
(same ITL). The client and a busy, shared 2-core host add latency to both legs (with 10/20 ms
servers we saw the legs' mean TTFT swap order once), so the check is on the median TTFT
difference, 60 ± 20 ms, plus a positive mean-TTFT overhead whose CI excludes 0.
"""

from __future__ import annotations

import io
import re
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.support.servers import gt_server
from tests.support.service_proc import Service, kill_group, service, stop

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORKLOAD = "{num_requests: 12, concurrency: 4, input_len: 16, output_len: 8, warmup: 0}"


def models_yaml(path: Path, on: str, off: str, workload: str = WORKLOAD) -> Path:
    path.write_text(
        "models:\n"
        "  gt:\n"
        "    hf_id: gt/model\n"
        "    served_name: gt-model\n"
        "    engine: {name: external}\n"
        f'    endpoints: {{tee_on: "{on}", tee_off: "{off}"}}\n'
        f"    workload: {workload}\n"
    )
    return path


def wait_job(svc: Service, job_id: str, pred: Any, timeout: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status, job = svc.call("GET", f"/api/profiles/{job_id}")
        assert status == 200, job
        if pred(job):
            return job
        time.sleep(0.25)
    _, log = svc.call("GET", f"/api/profiles/{job_id}/log")
    raise AssertionError(f"job never reached the state; last: {job}\nlog:\n{str(log)[-3000:]}")


def final(job: dict[str, Any]) -> bool:
    return job["status"] in ("done", "failed", "cancelled", "interrupted")


def profile_pid(data: Path, job_id: str) -> int | None:
    con = sqlite3.connect(f"file:{data / 'jobs.sqlite'}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT pid FROM jobs WHERE id = ?", (job_id,)).fetchone()
    finally:
        con.close()
    return int(row[0]) if row and row[0] else None


# --------------------------------------------------------------------------- a finished profile


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, str, Path]]:
    root = tmp_path_factory.mktemp("svc-e2e")
    with (
        gt_server("--ttft-ms", "100", "--itl-ms", "5") as on,
        gt_server("--ttft-ms", "40", "--itl-ms", "5") as off,
    ):
        models = models_yaml(root / "models.yaml", on, off)
        with service(root / "data", models) as svc:
            # one repeat of 40 requests per leg: the CI is a bootstrap over requests (with only
            # two repeats it would be a t interval over 2 runs: honest, but too wide to test)
            body = {"model": "gt", "num_requests": 40, "repeats": 1}
            status, data = svc.call("POST", "/api/profiles", body)
            assert status == 202, data
            job_id = data["id"]
            try:
                wait_job(svc, job_id, final)
            finally:
                kill_group(profile_pid(root / "data", job_id), job_id)
            yield svc, job_id, root / "data"


def test_profile_runs_to_done_with_the_ground_truth_overhead(
    finished: tuple[Service, str, Path],
) -> None:
    svc, job_id, _ = finished
    status, job = svc.call("GET", f"/api/profiles/{job_id}")
    assert status == 200
    assert job["status"] == "done", job
    assert job["exit_code"] == 0 and job["result"]["status"] == "complete"
    assert job["progress"]["runs_finished"] == job["progress"]["runs_expected"] == 2
    (point,) = job["result"]["load_points"]
    assert point["name"] and len(point["runs"]["on"]) == 1 and len(point["runs"]["off"]) == 1
    assert sorted(r["label"] for r in job["result"]["runs"]) == ["off", "on"]
    for run in job["result"]["runs"]:  # each leg's own summary, from its summary.json
        assert run["summary"]["completed"] == 40 and run["summary"]["failed"] == 0
        assert run["summary"]["mean_ttft_ms"] >= (100 if run["label"] == "on" else 40)
    ttft = next(h for h in point["headline"] if h["metric"] == "mean_ttft_ms")
    assert ttft["overhead_pct"] > 0, ttft
    assert ttft["ci_low"] <= ttft["overhead_pct"] <= ttft["ci_high"]
    assert ttft["significant"] is True
    cmp_path = f"/api/runs/{job_id}/files/{point['comparison']}/comparison.json"
    status, comparison = svc.call("GET", cmp_path)
    assert status == 200, comparison
    p50 = next(m for m in comparison["metrics"] if m["metric"] == "p50_ttft_ms")
    assert 40.0 <= p50["on"] - p50["off"] <= 80.0, p50

    # the run's measurements download as parquet, one row per request
    run_id = point["runs"]["on"][0]
    status, headers, raw = svc.raw("GET", f"/api/runs/{run_id}/files/requests.parquet")
    assert status == 200 and "attachment" in headers["content-disposition"]
    frame = pd.read_parquet(io.BytesIO(raw))
    assert len(frame[frame["ok"]]) == 40
    status, manifest = svc.call("GET", f"/api/runs/{run_id}/files/manifest.json")
    assert status == 200 and manifest["status"] == "complete" and manifest["label"] == "on"

    status, metrics = svc.call("GET", "/metrics")
    assert 'tee_llm_prof_jobs{status="done"} 1' in metrics


def test_report_is_html(finished: tuple[Service, str, Path]) -> None:
    svc, job_id, _ = finished
    status, headers, raw = svc.raw("GET", f"/api/runs/{job_id}/report")
    assert status == 200, raw[:500]
    assert headers["content-type"].startswith("text/html")
    assert b"<html" in raw.lower() and b"ttft" in raw.lower()
    status, headers, raw = svc.raw("GET", f"/api/runs/{job_id}/report", token=None)
    assert status == 401 and b"<html" not in raw.lower()
    # one run's own report, rendered on demand by the service (nothing else is running)
    _, job = svc.call("GET", f"/api/profiles/{job_id}")
    run_id = job["result"]["runs"][0]["id"]
    status, headers, raw = svc.raw("GET", f"/api/runs/{run_id}/report")
    assert status == 200, raw[:500]
    assert b"<html" in raw.lower() and run_id.encode() in raw
    status, info = svc.call("GET", f"/api/runs/{run_id}")
    assert "report.html" in info["files"]


@pytest.mark.chromium
def test_dashboard_in_headless_chromium(finished: tuple[Service, str, Path]) -> None:
    """What a person sees: open /?token=… once (cookie, redirect), then the table of profiles."""
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package `chromium`)")
    svc, job_id, data = finished
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--window-size=1400,600"]  # fmt: skip
    url = f"{svc.base}/?token={svc.token}"
    with tempfile.TemporaryDirectory() as profile_dir:
        dom = subprocess.run(
            [chromium, *flags, f"--user-data-dir={profile_dir}", "--dump-dom", url],
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout  # fmt: skip
    assert job_id in dom and ">done<" in dom
    assert re.search(r"TTFT [+-]\d+\.\d%", dom)  # the headline overhead, with its sign
    assert svc.token not in dom  # the page never echoes the token
    shot = data / "dashboard.png"
    with tempfile.TemporaryDirectory() as profile_dir:
        subprocess.run(
            [chromium, *flags, f"--user-data-dir={profile_dir}", f"--screenshot={shot}", url],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(str(shot))
    assert img.shape[0] == 600 and img.shape[1] == 1400
    # a rendered table, not a blank or error page: many distinct colours, plenty of ink
    colours = np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50
    ink = (img[..., :3].mean(axis=2) < 0.5).mean()
    assert 0.005 < ink < 0.5
    # without the token: the sign-in form, no data
    with tempfile.TemporaryDirectory() as profile_dir:
        dom = subprocess.run(
            [chromium, *flags, f"--user-data-dir={profile_dir}", "--dump-dom", svc.base + "/"],
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout  # fmt: skip
    assert job_id not in dom and "Token" in dom


# --------------------------------------------------------------------------- cancel, restart

SLOW = "{num_requests: 200, concurrency: 2, input_len: 16, output_len: 64, warmup: 0}"


def _started(job: dict[str, Any]) -> bool:
    return job["status"] == "running" and (job.get("progress") or {}).get("runs_started", 0) >= 1


def cancel_once_running(svc: Service, data: Path) -> tuple[str, dict[str, Any]]:
    """Submit a (slow) profile, cancel it once its first run is under way; (job id, final job)."""
    _, body = svc.call("POST", "/api/profiles", {"model": "gt"})
    job_id = body["id"]
    try:
        wait_job(svc, job_id, _started)
        time.sleep(3)  # let some requests complete
        status, body = svc.call("DELETE", f"/api/profiles/{job_id}")
        assert status == 202 and body["cancel_requested"] is True
        return job_id, wait_job(svc, job_id, final, timeout=120)
    finally:
        kill_group(profile_pid(data, job_id), job_id)


def test_cancel_keeps_what_was_measured(tmp_path: Path) -> None:
    with gt_server("--ttft-ms", "20", "--itl-ms", "20") as gt:
        models = models_yaml(tmp_path / "models.yaml", gt, gt, SLOW)
        with service(tmp_path / "data", models, "--cancel-grace-s", "60") as svc:
            _, job = cancel_once_running(svc, tmp_path / "data")
            assert job["status"] == "cancelled", job
            assert job["result"]["status"] == "incomplete"
            (run,) = [r for r in job["result"]["runs"] if r["label"] == "on"]
            assert run["status"] == "incomplete"
            run_id = run["id"]
            status, manifest = svc.call("GET", f"/api/runs/{run_id}/files/manifest.json")
            assert manifest["status"] == "incomplete"
            status, _, raw = svc.raw("GET", f"/api/runs/{run_id}/files/requests.parquet")
            assert status == 200
            frame = pd.read_parquet(io.BytesIO(raw))
            assert 0 < int(frame["ok"].sum()) < 200  # measured some, not all: kept


def test_restart_after_a_crash_keeps_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with gt_server("--ttft-ms", "20", "--itl-ms", "20") as gt:
        models = models_yaml(tmp_path / "models.yaml", gt, gt, SLOW)
        pids: list[tuple[int | None, str]] = []
        try:
            with service(data, models) as svc:
                _, first = svc.call("POST", "/api/profiles", {"model": "gt"})
                _, second = svc.call("POST", "/api/profiles", {"model": "gt", "num_requests": 4,
                                                               "output_len": 4})  # fmt: skip
                wait_job(svc, first["id"], _started)
                pids.append((profile_pid(data, first["id"]), first["id"]))
                stop(svc.proc, signal.SIGKILL)  # a crash: no chance to clean up
            assert pids[0][0] is not None
            with service(data, models) as svc:
                status, job = svc.call("GET", f"/api/profiles/{first['id']}")
                assert status == 200 and job["status"] == "interrupted", job
                assert "kept" in job["reason"]
                # the orphaned profile was interrupted, saved its runs, and the queue went on
                done = wait_job(svc, second["id"], final)
                assert done["status"] == "done", done
                pids.append((profile_pid(data, second["id"]), second["id"]))
                status, job = svc.call("GET", f"/api/profiles/{first['id']}")
                assert job["result"]["status"] == "incomplete"
                # its progress was refreshed from the files: nothing reads as still running
                assert job["progress"]["profile_status"] == "incomplete", job["progress"]
                assert job["progress"]["current_run"] is None
                _, body = svc.call("GET", "/api/profiles")
                assert {p["id"] for p in body["profiles"]} == {first["id"], second["id"]}
                # profiles never overlapped: the second started after the first ended
                second_job = svc.call("GET", f"/api/profiles/{second['id']}")[1]
                assert second_job["started"] >= job["finished"]
        finally:
            for pid, job_id in pids:
                kill_group(pid, job_id)



def test_an_unreachable_endpoint_fails_with_the_profiles_reason(tmp_path: Path) -> None:
    from tests.support.servers import free_port

    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    models = models_yaml(tmp_path / "models.yaml", dead, dead)
    with service(tmp_path / "data", models) as svc:
        _, data = svc.call("POST", "/api/profiles", {"model": "gt"})
        try:
            job = wait_job(svc, data["id"], final, timeout=120)
        finally:
            kill_group(profile_pid(tmp_path / "data", data["id"]), data["id"])
        assert job["status"] == "failed" and job["exit_code"] not in (0, None), job
        assert job["reason"], job  # the profile's own one-line error, not just an exit code
        _, log = svc.call("GET", f"/api/profiles/{data['id']}/log")
        assert job["reason"] in log
        _, metrics = svc.call("GET", "/metrics")
        assert 'tee_llm_prof_jobs{status="failed"} 1' in metrics


def test_graceful_stop_interrupts_the_profile_and_keeps_its_runs(tmp_path: Path) -> None:
    """SIGTERM (systemd stop, Ctrl-C): the service interrupts its profile itself, then exits."""
    data = tmp_path / "data"
    with gt_server("--ttft-ms", "20", "--itl-ms", "20") as gt:
        models = models_yaml(tmp_path / "models.yaml", gt, gt, SLOW)
        with service(data, models) as svc:
            _, first = svc.call("POST", "/api/profiles", {"model": "gt"})
            job_id = first["id"]
            try:
                wait_job(svc, job_id, _started)
                stop(svc.proc, signal.SIGTERM)
                assert svc.proc.returncode == 0
            finally:
                kill_group(profile_pid(data, job_id), job_id)
        with service(data, models, "--paused") as svc:
            status, job = svc.call("GET", f"/api/profiles/{job_id}")
            assert status == 200 and job["status"] == "interrupted", job
            assert "service was stopped" in job["reason"]  # by itself, not found at restart
            assert job["result"]["status"] == "incomplete"
            assert [r["status"] for r in job["result"]["runs"]] == ["incomplete"]


def test_serve_on_a_busy_port_says_so_and_never_claims_to_serve(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    from tests.support.servers import ROOT

    models = models_yaml(tmp_path / "models.yaml", "http://127.0.0.1:9", "http://127.0.0.1:9")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = subprocess.run(
            [sys.executable, "-m", "profiler.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--data", str(tmp_path / "data"), "--models", str(models)],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )
    assert res.returncode == 2 and "serving on" not in res.stdout, res.stdout
    assert res.stderr.strip().startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in res.stderr
    ro = subprocess.run(  # a data dir that cannot be written (sysfs refuses even root)
        [sys.executable, "-m", "profiler.cli", "serve", "--data", "/sys/tee-llm-prof-data", "--models",
         str(models)], cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert ro.returncode == 2 and "--data" in ro.stderr and "not writable" in ro.stderr
    assert ro.stderr.strip().count("\n") == 0 and "serving on" not in ro.stdout

