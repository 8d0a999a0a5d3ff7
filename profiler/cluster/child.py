"""The load process of one cluster worker: ``python -m profiler.cluster.child FD``.

A plain interpreter that imports the load generator and nothing of Ray: the actor that started
it hands over one share on the connection at file descriptor FD and gets its records back in one
message after the run. In between the process is exactly a ``--workers`` process of a local run
(one uvloop event loop, the garbage collector held off, ``loadgen.drive.drive``).

Messages, parent → child: ``("share", Share)``, then ``("t0", wall_ns)`` — the common start on
this host's wall clock, turned into a CLOCK_MONOTONIC instant here. Child → parent: ``("ready",
None)`` after warm-up, ``("progress", n)`` at most ten times a second, then ``("result",
ShareResult)`` or ``("error", text)``. SIGINT or SIGTERM stops sending (what was measured comes
back); the process also stops when its parent (the actor) is gone: it dies with it (Linux
PR_SET_PDEATHSIG) and never sends load for a worker the driver has written off.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection

from loadgen.drive import ShareResult, drive
from loadgen.runner import _new_loop, _no_gc_pauses

PROGRESS_EVERY_NS = 100_000_000
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # no prctl: the stop check still notices
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def serve(conn: Connection) -> int:
    parent = os.getppid()
    _die_with_parent()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # the actor's thread that started this process had them blocked, and a mask survives exec
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    kind, share = conn.recv()
    if kind != "share":
        conn.send(("error", f"expected a share, got {kind!r}"))
        return 2

    def should_stop() -> bool:  # polled every 20 ms by the dispatcher, never per request
        return stop.is_set() or os.getppid() != parent

    def start_at() -> int:
        conn.send(("ready", None))
        _, wall_t0 = conn.recv()
        # this host's wall and monotonic clocks read together: the start as a monotonic instant
        return time.perf_counter_ns() + (int(wall_t0) - time.time_ns())

    done = [0, 0]  # count, last report

    def on_done(k: int) -> None:
        done[0] += k
        now = time.perf_counter_ns()
        if now - done[1] > PROGRESS_EVERY_NS:
            done[1] = now
            conn.send(("progress", done[0]))

    try:
        with _no_gc_pauses(), asyncio.Runner(loop_factory=_new_loop) as runner:
            res: ShareResult = runner.run(
                drive(share, start_at=start_at, should_stop=should_stop, on_done=on_done)
            )
        conn.send(("result", res))
    except (EOFError, BrokenPipeError):
        return 1  # the actor is gone: nobody to report to
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    conn = Connection(int(args[0]))
    try:
        return serve(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
