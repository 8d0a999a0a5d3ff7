"""Start a server process, wait until it answers, and always stop it (the whole process group).

vLLM forks an engine-core process (and workers on a GPU); stopping only the parent leaves them
holding the port and the accelerator. The server therefore runs in its own session, and stop()
signals the whole group: SIGTERM first (vLLM shuts down cleanly), SIGKILL after a grace period.
Its own session also keeps a terminal's Ctrl-C away from it: the profiler decides when to stop.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from catalog.registry import Registry
from profiler.errors import UserError

LOG_TAIL_LINES = 25

#: Known failure signatures in a server log → the fix to suggest (checked in order).
HINTS: Registry[str] = Registry("log hint")
HINTS.add(
    "torchvision::nms does not exist",
    "PyPI torchvision does not match the CPU build of torch; remove it: "
    "pip uninstall -y torchvision torchaudio torchcodec",
)
HINTS.add(
    "Could not load this library",
    "a torch extension (torchaudio/torchcodec/torchvision) does not match the CPU build of torch; "
    "remove it: pip uninstall -y torchvision torchaudio torchcodec",
)
HINTS.add("address already in use", "the port is taken; pass another --port or stop what uses it")
HINTS.add("Unsupported CPU attention configuration", "the CPU attention kernel needs head_dim 32/64/…")
HINTS.add("CUDA out of memory", "lower max_model_len, raise tensor_parallel_size or quantize")


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the profiler dies, even by SIGKILL (Linux).

    finally-blocks cannot run after SIGKILL or an OOM kill; without this the server would
    keep the port and the accelerator. (vLLM's engine core watches its own parent.) Linux
    sends the signal when the *thread* that started the server ends: start servers from the
    main thread or a thread that lives as long as the server, as every caller here does."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class EngineFailed(UserError):
    """The engine did not become ready; the message carries its log tail and a hint."""


def port_free(host: str, port: int) -> bool:
    """True when a server could listen on ``host:port`` now.

    SO_REUSEADDR as servers set it (uvicorn does): connections of a stopped server lingering in
    TIME_WAIT do not make the port busy; another listener does.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def hint_for(log: str) -> str | None:
    for pattern, hint in HINTS.items():
        if pattern in log:
            return hint
    return None


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            return bool(r.status == 200)
    except (OSError, urllib.error.HTTPError):
        return False


class ServerProcess:
    """One server in its own process group, logging to a file."""

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        health_url: str,
    ) -> None:
        self.name = name
        self.cmd = list(cmd)
        self.env = dict(env)
        self.log_path = log_path
        self.health_url = health_url
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_s: float | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def _failure(self, what: str) -> EngineFailed:
        tail = log_tail(self.log_path)
        hint = hint_for(tail)
        msg = f"{self.name} {what}; last lines of {self.log_path}:\n{tail}"
        if hint:
            msg += f"\nhint: {hint}"
        return EngineFailed(msg)

    def wait_ready(self, timeout_s: float, console: Console | None = None) -> float:
        """Poll the health URL until it answers 200; return the seconds it took."""
        assert self.proc is not None, "start() first"
        t0 = time.monotonic()
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(f"starting {self.name} (log: {self.log_path})", total=None)
            while True:
                code = self.proc.poll()
                if code is not None:
                    raise self._failure(f"exited with code {code} before it was ready")
                if http_ok(self.health_url, timeout_s=1.0):
                    break
                if time.monotonic() - t0 > timeout_s:
                    raise self._failure(f"was not ready after {timeout_s:.0f} s")
                progress.update(task)
                time.sleep(0.5)
        self.ready_s = time.monotonic() - t0
        return self.ready_s

    def stop(self, grace_s: float = 20.0) -> int | None:
        """Stop the whole process group; idempotent; returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=wait)
        # children of a dead parent may linger in the group (engine core, workers)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.returncode


@contextlib.contextmanager
def running(server: ServerProcess, timeout_s: float, console: Console | None = None) -> Iterator[float]:
    """Start ``server``, yield seconds-to-ready, and stop it on any exit (Ctrl-C included)."""
    try:
        server.start()
        yield server.wait_ready(timeout_s, console)
    finally:
        server.stop()
