"""Runs queued jobs, one at a time, as ``tee-llm-prof profile`` subprocesses.

One at a time per host because two profiles on one GPU host would perturb each other's
measurements. Each profile runs in its own process group (its own session), so:

- cancel = SIGINT to the group (the profile saves what it measured, marked incomplete), then
  SIGKILL after a grace period if it has not exited;
- a Ctrl-C at the service's terminal does not reach the profile directly; the service forwards
  it on shutdown (and marks the job interrupted);
- a profile orphaned by a service that died is found again by its recorded pid at the next
  start, interrupted the same way, and never overlaps the next job.

Progress comes from the run directories appearing under the profile directory, which needs no
cooperation from the subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from profiler.experiment.arguments import PROFILE_FIELDS
from profiler.flags import to_argv
from profiler.service import jobs as J
from profiler.service.results import run_progress

log = logging.getLogger("tee_llm_prof.service")

CommandFactory = Callable[[J.Job, Path], Sequence[str]]

def profile_command(models_path: Path, cluster: str | None = None, node: str | None = None) -> CommandFactory:
    """The real command: ``python -m profiler.cli profile --model KEY --models PATH ...``.

    Only the model key and validated workload values reach the command line; targets come from
    models.yaml. (``python -m`` rather than the console script: it needs no PATH.) With a
    ``cluster`` the same profile runs on a node of that Ray cluster (``node``, or any) through
    :mod:`profiler.cluster.dispatch`, which stays the job's local process: cancel, shutdown and
    orphan recovery reach it exactly as they reach a local profile, and it forwards them."""

    def build(job: J.Job, out: Path) -> list[str]:
        profile = ["profile", "--model", job.model, "--models", str(models_path), "--profile-id", job.id]
        # the CLI's own flags, generated from WorkloadSpec (profiler.flags)
        profile += to_argv({f: job.request[f] for f in PROFILE_FIELDS if job.request.get(f) is not None})
        if cluster is None:
            return [sys.executable, "-m", "profiler.cli", *profile, "--out", str(out)]
        where = ["--node", node] if node else []
        return [sys.executable, "-m", "profiler.cluster.dispatch", "--cluster", cluster, *where,
                "--out", str(out), "--ship", str(models_path), "--", *profile]  # fmt: skip

    return build


class JobRunner:
    def __init__(
        self,
        store: J.JobStore,
        data_dir: Path,
        command: CommandFactory,
        *,
        cancel_grace_s: float = 30.0,
        poll_s: float = 0.5,
        paused: bool = False,
    ) -> None:
        self.store = store
        self.profiles_dir = Path(data_dir) / "profiles"
        self.logs_dir = Path(data_dir) / "logs"
        self.command = command
        self.cancel_grace_s = cancel_grace_s
        self.poll_s = poll_s
        self.paused = paused
        self.current: str | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._orphans: list[J.Job] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self, orphans: Sequence[J.Job] = ()) -> None:
        self.profiles_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._orphans = list(orphans)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="job-runner")

    async def stop(self) -> None:
        """Stop taking jobs; interrupt the running one (it saves what it measured)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    def wake(self) -> None:
        self._wake.set()

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self._wake.set()

    def log_path(self, job_id: str) -> Path:
        return self.logs_dir / f"{job_id}.log"

    # ------------------------------------------------------------------ the loop
    async def _loop(self) -> None:
        for orphan in self._orphans:
            await self._reap_orphan(orphan)
            # its progress as the files now say (the runs it saved), not the dead process's last
            self._update_progress(orphan.id, dict(orphan.progress or {}))
        while not self._stopping:
            try:
                job = None if self.paused else self.store.claim_next()
            except Exception:  # e.g. the disk is full: keep serving, retry shortly
                log.exception("cannot read the job queue")
                job = None
            if job is None:
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s * 4)
                continue
            try:
                await self._run(job)
            except Exception as exc:  # never let one job kill the runner
                log.exception("job %s crashed the runner", job.id)
                self.store.finish(job.id, J.FAILED, reason=f"service error: {exc}")
            finally:
                self.current = None

    async def _run(self, job: J.Job) -> None:
        self.current = job.id
        cmd = list(self.command(job, self.profiles_dir))
        log.info("job %s: %s", job.id, " ".join(cmd))
        log_path = self.log_path(job.id)
        log_path.touch()
        # The profile writes straight to its log file, not to a pipe: if the service dies, an
        # orphaned profile can still print (no broken pipe) and save its results when reaped.
        with log_path.open("ab") as logf:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *cmd,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=logf,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,  # own process group: cancel reaches all of it
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            except OSError as exc:
                self.store.finish(job.id, J.FAILED, reason=f"cannot start the profile: {exc}")
                return
        self.store.set_pid(job.id, proc.pid)
        progress: dict[str, Any] = dict(job.progress or {})
        exited = asyncio.ensure_future(proc.wait())
        interrupted_by: str | None = None
        while not exited.done():
            await asyncio.wait({exited}, timeout=self.poll_s)
            self._update_progress(job.id, progress)
            if interrupted_by is None:
                fresh = self.store.get(job.id)
                if fresh is not None and fresh.cancel_requested:
                    interrupted_by = "cancel"
                elif self._stopping:
                    interrupted_by = "shutdown"
                if interrupted_by:
                    await self._interrupt(proc.pid, exited)
        self._update_progress(job.id, progress)
        self._finish(job, proc.returncode, interrupted_by)

    def _update_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        # Progress is best effort: an error here must never end the watch of a live profile
        # (the next job would then start beside it).
        try:
            progress.update(run_progress(self.profiles_dir / job_id))
            self.store.set_progress(job_id, progress)
        except Exception:
            log.exception("job %s: cannot update progress", job_id)

    def _finish(self, job: J.Job, rc: int | None, interrupted_by: str | None) -> None:
        if interrupted_by == "cancel":
            status, reason = J.CANCELLED, "cancelled; what it measured is kept, marked incomplete"
        elif interrupted_by == "shutdown":
            status = J.INTERRUPTED
            reason = "the service was stopped; what it measured is kept, marked incomplete"
        elif rc == 0:
            status, reason = J.DONE, None
        else:
            status, reason = J.FAILED, self._failure_reason(job.id, rc)
        self.store.finish(job.id, status, exit_code=rc, reason=reason)
        log.info("job %s: %s (exit %s)", job.id, status, rc)

    def _failure_reason(self, job_id: str, rc: int | None) -> str:
        """The profile's own one-line error (`error: ...`) when it printed one."""
        try:
            lines = self.log_path(job_id).read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        for line in reversed(lines[-200:]):
            if line.startswith("error:"):
                return line[len("error:") :].strip()
        if rc is not None and rc < 0:
            return f"the profile was killed by signal {-rc}"
        tail = next((ln for ln in reversed(lines) if ln.strip()), "")
        return f"the profile exited with code {rc}" + (f": {tail.strip()[:300]}" if tail else "")

    # ------------------------------------------------------------------ stopping processes
    async def _interrupt(self, pgid: int, exited: asyncio.Future[Any]) -> None:
        """SIGINT to the process group, SIGKILL after the grace period."""
        _signal_group(pgid, signal.SIGINT)
        await asyncio.wait({exited}, timeout=self.cancel_grace_s)
        if not exited.done():
            log.warning(
                "profile group %s ignored SIGINT for %.0fs; killing it", pgid, self.cancel_grace_s
            )
            _signal_group(pgid, signal.SIGKILL)
            await asyncio.wait({exited}, timeout=10)

    async def _reap_orphan(self, job: J.Job) -> None:
        """A profile left running by a previous service process: interrupt it (it saves what it
        measured) before the next job starts, so profiles never overlap."""
        pid = job.pid
        if not pid or not _is_our_profile(pid, job.id):
            return
        log.warning("job %s: interrupting its profile left running (pid %s)", job.id, pid)

        async def gone() -> None:
            while _is_our_profile(pid, job.id):
                await asyncio.sleep(0.1)

        exited = asyncio.ensure_future(gone())
        await self._interrupt(pid, exited)
        exited.cancel()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _is_our_profile(pid: int, job_id: str) -> bool:
    """True while ``pid`` is alive and is the profile of ``job_id`` (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # a zombie (state Z) has exited; its parent just has not reaped it yet
    state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else ""
    return state != "Z" and job_id.encode() in cmdline.split(b"\0")
