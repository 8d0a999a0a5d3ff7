"""The job runner with a real, short subprocess standing in for `tee-llm-prof profile`.

The stand-in behaves like a profile where the runner cares: it writes run directories and a
profile.json, prints a progress line and an `error:` line, and on SIGINT saves its
results marked incomplete (or, in `stubborn` mode, ignores SIGINT so SIGKILL must follow).
The end-to-end path with the real profile command is in tests/integration/test_service_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from profiler.service import jobs as J
from profiler.service.runner import JobRunner, profile_command

FAKE_PROFILE = r"""
import json, os, signal, sys, time
job_id, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
root = os.path.join(out, job_id)
run = os.path.join(root, "runs", "r1-on")
os.makedirs(run)
def manifest(status):
    with open(os.path.join(run, "manifest.json"), "w") as f:
        json.dump({"schema_version": 2, "run_id": "r1-on", "tool_version": "test", "status": status}, f)
def profile(status):
    with open(os.path.join(root, "profile.json"), "w") as f:
        json.dump({"schema_version": 2, "kind": "profile", "id": job_id, "tool_version": "test",
                   "design": {"name": "abba", "description": "test"}, "status": status,
                   "load_points": []}, f)
def on_int(*_):
    manifest("incomplete"); profile("incomplete"); sys.exit(130)
manifest("running")
print(json.dumps({"event": "run_started", "run": "r1-on"}), flush=True)
if mode == "stubborn":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
else:
    signal.signal(signal.SIGINT, on_int)
if mode in ("slow", "stubborn"):
    print("ready", flush=True)
    time.sleep(60)
if mode == "fail":
    print("error: the model exploded", flush=True)
    sys.exit(2)
manifest("complete"); profile("complete")
print(json.dumps({"event": "done"}), flush=True)
"""


def fake_command(job: J.Job, out: Path) -> list[str]:
    return [sys.executable, "-c", FAKE_PROFILE, job.id, str(out), job.request["mode"]]


def _runner(tmp_path: Path, grace: float = 5.0) -> tuple[J.JobStore, JobRunner]:
    store = J.JobStore(tmp_path / "jobs.sqlite")
    return store, JobRunner(store, tmp_path, fake_command, cancel_grace_s=grace, poll_s=0.05)


async def _until(pred: object, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def test_jobs_run_one_at_a_time_in_order(tmp_path: Path) -> None:
    store, runner = _runner(tmp_path)
    ok = store.submit("m", {"mode": "ok"})
    bad = store.submit("m", {"mode": "fail"})

    async def go() -> None:
        runner.start()
        await _until(lambda: (store.get(bad.id) or ok).final)
        await runner.stop()

    asyncio.run(go())
    done, failed = store.get(ok.id), store.get(bad.id)
    assert done is not None and done.status == J.DONE and done.exit_code == 0
    assert done.progress is not None
    assert done.progress["runs_finished"] == 1 and done.progress["profile_status"] == "complete"
    assert failed is not None and failed.status == J.FAILED and failed.exit_code == 2
    assert failed.reason == "the model exploded"  # the profile's own `error:` line
    assert done.finished is not None and failed.started is not None
    assert done.finished <= failed.started  # never overlapping
    assert "run_started" in runner.log_path(ok.id).read_text()


def test_cancel_interrupts_and_keeps_the_result(tmp_path: Path) -> None:
    store, runner = _runner(tmp_path)
    job = store.submit("m", {"mode": "slow"})

    async def go() -> None:
        runner.start()
        await _until(lambda: "ready" in _log(runner, job.id))
        assert store.request_cancel(job.id) == J.RUNNING
        runner.wake()
        await _until(lambda: (store.get(job.id) or job).final)
        await runner.stop()

    asyncio.run(go())
    got = store.get(job.id)
    assert got is not None and got.status == J.CANCELLED and got.exit_code == 130
    profile = json.loads((tmp_path / "profiles" / job.id / "profile.json").read_text())
    assert profile["status"] == "incomplete"  # the profile saved what it had, on SIGINT


def test_sigkill_after_the_grace_period(tmp_path: Path) -> None:
    store, runner = _runner(tmp_path, grace=0.5)
    job = store.submit("m", {"mode": "stubborn"})

    async def go() -> None:
        runner.start()
        await _until(lambda: "ready" in _log(runner, job.id))
        store.request_cancel(job.id)
        await _until(lambda: (store.get(job.id) or job).final)
        await runner.stop()

    asyncio.run(go())
    got = store.get(job.id)
    assert got is not None and got.status == J.CANCELLED and got.exit_code == -9


def test_shutdown_interrupts_the_running_job(tmp_path: Path) -> None:
    store, runner = _runner(tmp_path)
    job = store.submit("m", {"mode": "slow"})
    later = store.submit("m", {"mode": "ok"})

    async def go() -> None:
        runner.start()
        await _until(lambda: "ready" in _log(runner, job.id))
        await runner.stop()

    asyncio.run(go())
    got, waiting = store.get(job.id), store.get(later.id)
    assert got is not None and got.status == J.INTERRUPTED and "kept" in (got.reason or "")
    assert waiting is not None and waiting.status == J.QUEUED  # runs after the next start


def test_paused_runner_takes_no_job_until_resumed(tmp_path: Path) -> None:
    store = J.JobStore(tmp_path / "jobs.sqlite")
    runner = JobRunner(store, tmp_path, fake_command, poll_s=0.05, paused=True)
    job = store.submit("m", {"mode": "ok"})

    async def go() -> None:
        runner.start()
        await asyncio.sleep(0.5)
        queued = store.get(job.id)
        assert queued is not None and queued.status == J.QUEUED
        runner.resume()
        await _until(lambda: (store.get(job.id) or job).final)
        await runner.stop()

    asyncio.run(go())
    got = store.get(job.id)
    assert got is not None and got.status == J.DONE


def test_a_missing_program_fails_the_job_not_the_runner(tmp_path: Path) -> None:
    store = J.JobStore(tmp_path / "jobs.sqlite")
    runner = JobRunner(store, tmp_path, lambda job, out: ["/nonexistent/profile"], poll_s=0.05)
    job = store.submit("m", {})

    async def go() -> None:
        runner.start()
        await _until(lambda: (store.get(job.id) or job).final)
        await runner.stop()

    asyncio.run(go())
    got = store.get(job.id)
    assert got is not None and got.status == J.FAILED and "cannot start" in (got.reason or "")


def test_profile_command_passes_only_the_key_and_overrides(tmp_path: Path) -> None:
    store = J.JobStore(tmp_path / "jobs.sqlite")
    job = store.submit(
        "tiny", {"model": "tiny", "num_requests": 5, "request_rates": [1, "inf"], "api": "chat"}
    )
    cmd = profile_command(tmp_path / "models.yaml")(job, tmp_path / "profiles")
    assert cmd[1:4] == ["-m", "profiler.cli", "profile"]
    args = dict(zip(cmd[4::2], cmd[5::2], strict=True))
    assert args == {
        "--model": "tiny",
        "--models": str(tmp_path / "models.yaml"),
        "--out": str(tmp_path / "profiles"),
        "--profile-id": job.id,
        "--num-requests": "5",
        "--request-rates": "1,inf",
        "--api": "chat",
    }


def _log(runner: JobRunner, job_id: str) -> str:
    path = runner.log_path(job_id)
    return path.read_text() if path.exists() else ""


def test_overrides_match_the_profile_command() -> None:
    """Every field a client may set is a workload flag `tee-llm-prof profile` accepts, and the
    command line the service builds is the CLI's own, generated from WorkloadSpec (catches drift
    between the two)."""
    from profiler.experiment.arguments import PROFILE_FIELDS
    from profiler.flags import BY_FIELD
    from profiler.service.schemas import ProfileRequest

    fields = set(ProfileRequest.model_fields) - {"model"}
    assert fields <= set(PROFILE_FIELDS)
    job = J.Job(id="j1", seq=1, model="m", request={"num_requests": 8, "request_rates": [1.0, "inf"]},
                status=J.QUEUED, created=0.0, started=None, finished=None, pid=None, exit_code=None,
                reason=None, cancel_requested=False, progress=None)
    cmd = profile_command(Path("models.yaml"))(job, Path("out"))
    assert cmd[cmd.index(BY_FIELD["num_requests"].flag) + 1] == "8"
    assert cmd[cmd.index(BY_FIELD["request_rates"].flag) + 1] == "1,inf"
