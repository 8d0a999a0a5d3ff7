"""The main job against real vLLM (CPU build) serving the generated tiny model.

- a profile against the shared session server: sane, non-zero TTFT, ITL and TPS; every request
  produced exactly the requested tokens (``ignore_eos``);
- ``tee-llm-prof --model tiny-llama`` end to end, launching and stopping its own engine;
- Ctrl-C while the engine starts: the engine's whole process group is gone afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from profiler.engines.process import http_ok, port_free
from profiler.store import read_json, read_run
from tests.support.servers import ROOT

if TYPE_CHECKING:
    from tests.integration.conftest import VllmServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Long enough (~150 ms of decode at ~2.5 ms/token) that an overloaded host still streams the
#: tokens in several events: vLLM merges the tokens a starved API server has not yet sent into
#: one event, and a whole response in one event has ITL = TPOT = 0.
OUTPUT_LEN = 64


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "profiler.cli", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "COLUMNS": "160"},
    )


def _check_run(run_dir: Path, n: int) -> None:
    run = read_run(run_dir)
    assert run.complete, run.manifest.reason
    s = run.llm
    assert s.completed == n and s.failed == 0
    # sane and non-zero; generous bounds for a loaded 2-core host
    assert 0 < (s.value("mean_ttft_ms") or 0) < 30_000
    merged = "every token arrived in one event: the host was too loaded for vLLM to stream"
    assert 0 < (s.value("mean_itl_ms") or 0) < 5_000 and 0 < (s.value("mean_tpot_ms") or 0) < 5_000, merged
    assert (s.value("output_throughput") or 0) > 0 and (s.value("request_throughput") or 0) > 0
    req = run.requests
    assert (req["output_tokens"] == OUTPUT_LEN).all()  # ignore_eos: exactly what was asked
    assert (req["ttft_ms"] > 0).all() and req["ok"].all()


def _disturbed(profile_dir: Path) -> list[str]:
    """Runs whose own client-health gate says the client could not send on time."""
    prof = read_json(profile_dir / "profile.json")
    rels = [rel for point in prof["load_points"] for runs in point["runs"].values() for rel in runs]
    health = {rel: read_run(profile_dir / rel).manifest.client_health or {} for rel in rels}
    return [f"{rel}: {h.get('message')}" for rel, h in health.items() if h.get("client_bound")]


def _profile(out: Path, pid: str, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run a profile; again (up to 3 tries) while the tool itself flags a run as disturbed.

    On this kind of VM a fresh machine sometimes freezes processes for ~120 ms at a time (seen
    in CI: every `write` of one run took 120-170 ms while the client used 0.4% CPU); the client
    then sends late and vLLM delivers whole responses in one event. The gate detects it (send
    lag) and says so; such a run measures the host, not the server, so the test repeats it.
    The checks on the run that is kept stay as strict.
    """
    for attempt in range(3):
        res = _cli(*args, "--out", str(out), "--profile-id", f"{pid}{attempt}")
        assert res.returncode == 0, res.stderr[-3000:]
        disturbed = _disturbed(out / f"{pid}{attempt}")
        if not disturbed:
            break
        print(f"attempt {attempt}: the client-health gate flagged {disturbed}")
    return res, out / f"{pid}{attempt}"


def test_profile_against_the_session_server(vllm_cpu: VllmServer, tmp_path: Path) -> None:
    res, pdir = _profile(
        tmp_path, "p",
        "--model", "tiny-llama", "--tee-on", vllm_cpu.base_url,
        "--num-requests", "16", "--concurrency", "4", "--input-len", "32",
        "--output-len", str(OUTPUT_LEN), "--range-ratio", "0", "--repeats", "1", "--no-report",
    )
    prof = read_json(pdir / "profile.json")
    assert prof["status"] == "complete" and prof["aa"] is True
    point = prof["load_points"][0]
    for label in ("on", "off"):
        (rel,) = point["runs"][label]
        _check_run(pdir / rel, 16)
        manifest = read_run(pdir / rel).manifest
        assert manifest.engine["name"] == "external" and manifest.engine["version"] == "0.32.0"
    assert "A/A calibration" in res.stdout


def test_embedded_default_launches_profiles_and_stops_its_engine(tmp_path: Path) -> None:
    _, pdir = _profile(
        tmp_path, "emb",
        "--model", "tiny-llama", "--num-requests", "12", "--concurrency", "4", "--input-len", "32",
        "--output-len", str(OUTPUT_LEN), "--range-ratio", "0", "--repeats", "1",
    )
    prof = read_json(pdir / "profile.json")
    assert prof["status"] == "complete" and prof["aa"] is True
    engine = prof["legs"]["on"]["engine"]
    assert engine == prof["legs"]["off"]["engine"]  # one launched engine serves both legs (A/A)
    assert engine["name"] == "vllm-cpu" and engine["version"] == "0.32.0"
    assert "-m vllm.entrypoints.openai.api_server" in engine["command_line"]
    assert "VLLM_CPU_KVCACHE_SPACE=1" in engine["command_line"]
    point = prof["load_points"][0]
    for label in ("on", "off"):
        (rel,) = point["runs"][label]
        _check_run(pdir / rel, 12)
        assert read_run(pdir / rel).manifest.engine["command"] == engine["command"]
    assert point["comparison"] and (pdir / point["comparison"] / "comparison.json").is_file()
    assert (pdir / "report.md").is_file()
    # the engine is gone: its port answers nothing and is free again
    assert not http_ok(engine["base_url"] + "/health", timeout_s=2)
    assert port_free("127.0.0.1", int(engine["base_url"].rsplit(":", 1)[1]))


def _pids_with(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp …
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def test_ctrl_c_while_the_engine_starts_stops_it(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "profiler.cli", "--model", "tiny-llama", "--out", str(tmp_path),
         "--profile-id", "cc"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    logs = tmp_path / "cc" / "engine"
    deadline = time.monotonic() + 120
    port = None
    while time.monotonic() < deadline and port is None:  # the engine has been started
        found = list(logs.glob("vllm-cpu-*.log")) if logs.is_dir() else []
        if found and found[0].stat().st_size > 0:
            port = found[0].stem.rsplit("-", 1)[1]
        time.sleep(0.2)
    assert port, "the engine never started"
    servers = _pids_with(f"--port {port} ")
    assert servers, "no vLLM process found"
    pgid = os.getpgid(servers[0])
    time.sleep(3)  # let it spawn its children (the engine core)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    deadline = time.monotonic() + 30
    while _group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _group_members(pgid)  # the API server and every child it forked
    assert port_free("127.0.0.1", int(port))
