"""Launching and stopping servers: readiness, log tail and hints on failure, process-group stop,
port checks, missing extras, and the vLLM command line. Real processes, no mocks."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest

from profiler.config import REPO_MODELS, get_model
from profiler.engines import ENGINES, LaunchOptions
from profiler.engines.external import probe
from profiler.engines.modelgen import ModelDir
from profiler.engines.process import EngineFailed, ServerProcess, hint_for, port_free, running
from profiler.engines.vllm import PYTHON_ENV, _port, require_vllm, vllm_command
from profiler.errors import MissingExtra, UserError
from tests.support.servers import ROOT, free_port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it holds no port and no memory
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def test_failing_server_reports_exit_code_log_tail_and_hint(tmp_path: Path) -> None:
    code = (
        "import sys; print('loading...'); "
        "print('RuntimeError: operator torchvision::nms does not exist'); sys.exit(3)"
    )
    server = ServerProcess(
        "fake", [sys.executable, "-c", code], env={}, log_path=tmp_path / "s.log",
        health_url=f"http://127.0.0.1:{free_port()}/health",
    )
    with pytest.raises(EngineFailed) as err, running(server, timeout_s=30):
        pass
    msg = str(err.value)
    assert "exited with code 3" in msg and "loading..." in msg
    assert "pip uninstall -y torchvision" in msg


def test_server_that_never_answers_times_out_and_is_stopped(tmp_path: Path) -> None:
    server = ServerProcess(
        "sleeper", [sys.executable, "-c", "import time; print('up'); time.sleep(60)"], env={},
        log_path=tmp_path / "s.log", health_url=f"http://127.0.0.1:{free_port()}/health",
    )
    with pytest.raises(EngineFailed, match="not ready after 1 s"), running(server, timeout_s=1):
        pass
    assert server.proc is not None and not _alive(server.proc.pid)


@pytest.mark.integration
def test_ready_server_and_its_children_are_stopped_with_the_group(tmp_path: Path) -> None:
    """The gt server stands in for vLLM; a child it leaves behind (like vLLM's engine core)
    must die with the group."""
    port = free_port()
    child = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, runpy\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(child)!r}, 'w').write(str(p.pid))\n"
        f"sys.argv = ['gt', '--port', '{port}']\n"
        "runpy.run_module('tests.support.gt_server', run_name='__main__')\n"
    )
    server = ServerProcess(
        "gt", [sys.executable, "-c", code], env={"PYTHONPATH": str(ROOT)}, log_path=tmp_path / "s.log",
        health_url=f"http://127.0.0.1:{port}/health",
    )
    with running(server, timeout_s=30) as ready_s:
        assert ready_s > 0
        assert not port_free("127.0.0.1", port)
        child_pid = int(child.read_text())
        assert _alive(child_pid)
    assert server.proc is not None and server.proc.poll() is not None
    deadline = time.monotonic() + 10
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child_pid)
    assert port_free("127.0.0.1", port)


def test_server_is_stopped_when_the_block_raises(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(
        "gt", [sys.executable, "-m", "tests.support.gt_server", "--port", str(port)],
        env={"PYTHONPATH": str(ROOT)}, log_path=tmp_path / "s.log",
        health_url=f"http://127.0.0.1:{port}/health",
    )
    with pytest.raises(KeyboardInterrupt), running(server, timeout_s=30):
        raise KeyboardInterrupt
    assert server.proc is not None and not _alive(server.proc.pid)


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not port_free("127.0.0.1", port)
        with pytest.raises(UserError, match=f"port {port} on 127.0.0.1 is in use"):
            _port(LaunchOptions(port=port))
    assert _port(LaunchOptions(port=None)) > 0


def test_hints_match_known_failures() -> None:
    assert "pip uninstall" in (hint_for("OSError: Could not load this library: x.so") or "")
    assert hint_for("all good") is None


def test_missing_vllm_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # a bare interpreter (a fresh venv) has no vLLM: the error says which pip install fixes it
    bare = tmp_path / "venv"
    import venv

    venv.EnvBuilder(with_pip=False).create(bare)
    monkeypatch.setenv(PYTHON_ENV, str(bare / "bin" / "python"))
    with pytest.raises(MissingExtra, match=r"pip install 'tee-llm-prof\[cpu\]'"):
        require_vllm(str(bare / "bin" / "python"), "cpu")


def test_vllm_command_for_generated_and_dummy_models(tmp_path: Path) -> None:
    tiny = get_model("tiny-llama", REPO_MODELS)
    generated = ModelDir(tmp_path, tmp_path, 320, True, "d")
    cmd = vllm_command(tiny, generated, python="py", host="127.0.0.1", port=9)
    assert cmd[:3] == ["py", "-m", "vllm.entrypoints.openai.api_server"]
    assert "--load-format" not in cmd and "--enforce-eager" in cmd
    assert cmd[cmd.index("--served-model-name") + 1] == "tiny-llama"
    assert "--no-enable-prefix-caching" in cmd  # A/A legs must not share cached prefixes
    big = get_model("llama-3.1-70b", REPO_MODELS)
    cmd = vllm_command(big, ModelDir(tmp_path, tmp_path, 128256, False, "d"), python="py", host="h", port=9)
    assert cmd[cmd.index("--load-format") + 1] == "dummy"
    assert cmd[cmd.index("--quantization") + 1] == "fp8"


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_cuda_engine_without_a_gpu_says_so() -> None:
    with pytest.raises(UserError, match="no NVIDIA GPU"), ENGINES.get("vllm-cuda").launch(
        get_model("llama-3.1-8b", REPO_MODELS), "llama-3.1-8b", LaunchOptions()
    ):
        pass


def test_external_engine_needs_endpoints() -> None:
    entry = get_model("tiny-llama", REPO_MODELS).model_copy(update={"engine": get_model(
        "tiny-llama", REPO_MODELS).engine.model_copy(update={"name": "external"})})
    with pytest.raises(UserError, match="--tee-on URL --tee-off URL"), ENGINES.get("external").launch(
        entry, "x", LaunchOptions()
    ):
        pass


def test_unknown_engine_lists_known_ones() -> None:
    with pytest.raises(KeyError, match="external, vllm-cpu, vllm-cuda"):
        ENGINES.get("tgi")


@pytest.mark.integration
def test_probe_finds_the_served_model(gt_url: str) -> None:
    ep = probe(gt_url, "something-else")
    assert ep.served_model == "gt-model"  # the only model served
    assert ep.engine["name"] == "external" and ep.metrics_url == gt_url + "/metrics"


def test_probe_of_a_dead_endpoint_is_one_line() -> None:
    with pytest.raises(UserError, match="does not answer GET /v1/models"):
        probe(f"http://127.0.0.1:{free_port()}", "m", timeout_s=2)
    with pytest.raises(UserError, match="not an http"):
        probe("10.0.0.5:8000", "m")


@pytest.mark.integration
def test_server_dies_with_a_profiler_killed_by_sigkill(tmp_path: Path) -> None:
    """No finally-block runs after SIGKILL; the server must not outlive its profiler."""
    port = free_port()
    pid_file = tmp_path / "server.pid"
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from profiler.engines.process import ServerProcess\n"
        f"s = ServerProcess('gt', [sys.executable, '-m', 'tests.support.gt_server', '--port', '{port}'],\n"
        f"    env={{}}, log_path=Path({str(tmp_path / 's.log')!r}), health_url='http://127.0.0.1:{port}/health')\n"
        "s.start(); s.wait_ready(30)\n"
        f"Path({str(pid_file)!r}).write_text(str(s.proc.pid))\n"
        "time.sleep(120)\n"
    )
    import subprocess

    profiler = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    server_pid = int(pid_file.read_text())
    assert _alive(server_pid)
    profiler.kill()
    profiler.wait()
    deadline = time.monotonic() + 15
    while _alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(server_pid)
