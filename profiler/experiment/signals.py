"""Signals as interruptions: SIGTERM takes the Ctrl-C path, and every interruption is named.

SIGTERM is what ``timeout``, systemd, Kubernetes and the service's cancel send. It becomes
:class:`Terminated`, a KeyboardInterrupt, so the same save-then-stop path runs for both, while
the reason recorded says which signal it was.

The first signal starts an orderly save; :func:`shielded` keeps further signals from breaking it
(an impatient second Ctrl-C 50 ms later must not throw away what was measured), and says that
the save is in progress when they keep coming.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from types import FrameType

from loadgen.runner import signals_handled
from profiler.errors import UserError

SAVING = "saving what was measured; it cannot be interrupted and takes a moment"


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered as an interruption."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` (in the main thread only)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """SIGINT and SIGTERM cannot interrupt the block (a save after an interruption has begun).
    The first signal inside it is swallowed quietly, later ones print :data:`SAVING` once."""
    seen = [0]

    def handler(signum: int, frame: FrameType | None) -> None:
        seen[0] += 1
        if seen[0] == 2:
            print(SAVING, file=sys.stderr, flush=True)

    with signals_handled(handler):
        yield


def interrupt_of(signum: int | None) -> KeyboardInterrupt:
    """The exception a caught signal is re-raised as after saving."""
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def interruption_reason(exc: BaseException) -> str:
    """What an experiment or run says when ``exc`` stopped it."""
    if isinstance(exc, Terminated):
        return "interrupted (SIGTERM); the runs listed were kept"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C); the runs listed were kept"
    if isinstance(exc, UserError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
