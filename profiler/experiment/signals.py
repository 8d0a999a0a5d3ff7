"""Signals as interruptions: SIGTERM takes the Ctrl-C path, and every interruption is named.

SIGTERM is what ``timeout``, systemd, Kubernetes and the service's cancel send. It becomes
:class:`Terminated`, a KeyboardInterrupt, so the same save-then-stop path runs for both, while
the reason recorded says which signal it was.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType


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


def interruption_reason(exc: BaseException) -> str:
    """What an experiment or run says when ``exc`` stopped it."""
    if isinstance(exc, Terminated):
        return "interrupted (SIGTERM); the runs listed were kept"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C); the runs listed were kept"
    return f"{type(exc).__name__}: {exc}"
