"""The Ray actor of one load worker: starts the load process on its node and relays a few messages.

The actor is a control post, never on the request path. Per run it answers a handful of calls:
``identity`` and ``wall_ns`` (the clock exchange) before, ``prepare`` (start the load process,
hand it the share, return once it has warmed up), ``start`` (the common t0), ``progress`` and
``stop`` while it runs, and ``result`` (every record, in one batch) after. The load process is
:mod:`profiler.cluster.child`, a fresh interpreter with no Ray in it, so Ray's own threads in the
actor never compete with the event loop that stamps arrivals.

The class is plain Python; :func:`remote_class` wraps it for Ray on first use, so importing this
module does not import ray.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from loadgen.drive import Share, ShareResult
from profiler.cluster.node import subprocess_env

#: Calls that must be answered while ``prepare`` or ``result`` blocks (progress, stop, start).
MAX_CONCURRENCY = 4


class LoadWorker:
    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Any = None
        self._ready = threading.Event()
        self._done = threading.Event()
        self._result: ShareResult | None = None
        self._error: str | None = None
        self._count = 0
        self._started = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ before the run
    def identity(self) -> dict[str, Any]:
        from profiler import __version__
        from profiler.cluster.connect import this_node

        return {
            "node": this_node().model_dump(),
            "actor_pid": os.getpid(),
            "hostname": socket.gethostname(),
            "version": __version__,
            "python": sys.version.split()[0],
        }

    def wall_ns(self) -> int:
        return time.time_ns()

    def prepare(self, share: Share) -> dict[str, Any]:
        """Start the load process with ``share``; return once it is warmed up (or has failed)."""
        parent, child = mp.Pipe(duplex=True)
        env = subprocess_env()
        fd = child.fileno()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "profiler.cluster.child", str(fd)],
            pass_fds=(fd,),
            env=env,
            stdin=subprocess.DEVNULL,
        )
        child.close()
        self._conn = parent
        parent.send(("share", share))
        threading.Thread(target=self._read, name="load-process", daemon=True).start()
        while not (self._ready.wait(0.05) or self._done.is_set()):
            pass
        return {"pid": self._proc.pid, "ready": self._ready.is_set(), "error": self._error}

    def _read(self) -> None:
        try:
            while True:
                kind, value = self._conn.recv()
                if kind == "ready":
                    self._ready.set()
                elif kind == "progress":
                    self._count = int(value)
                elif kind == "result":
                    self._result = value
                    self._count = sum(1 for r in value.records if not r.warmup)
                    break
                else:
                    self._error = str(value)
                    break
        except (EOFError, OSError):
            code = self._proc.wait() if self._proc is not None else None
            self._error = f"the load process ended without its records (exit code {code})"
        finally:
            self._done.set()

    # ------------------------------------------------------------------ during the run
    def start(self, wall_t0_ns: int) -> None:
        """The common start, on this host's wall clock (the driver added this worker's offset)."""
        with self._lock:
            if not self._started and self._conn is not None:
                self._started = True
                with contextlib.suppress(OSError):
                    self._conn.send(("t0", int(wall_t0_ns)))

    def progress(self) -> int:
        return self._count

    def stop(self) -> None:
        """Stop sending; what was measured still comes back from :meth:`result`."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGINT)
        self.start(time.time_ns())  # a process still waiting for t0 starts, sees the stop, ends

    # ------------------------------------------------------------------ after the run
    def result(self) -> ShareResult:
        self._done.wait()
        if self._proc is not None:
            self._proc.wait()
        if self._result is None:
            raise RuntimeError(self._error or "the load process returned nothing")
        return self._result


def remote_class(ray: Any) -> Any:
    """The Ray actor class (created once per process)."""
    global _REMOTE
    if _REMOTE is None:
        _REMOTE = ray.remote(max_concurrency=MAX_CONCURRENCY)(LoadWorker)
    return _REMOTE


_REMOTE: Any = None
