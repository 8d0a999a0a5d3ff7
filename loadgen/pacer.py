"""Pacers: wake the sender at a monotonic deadline, never before it.

uvloop's timers (libuv) count in whole milliseconds on a clock cached once per loop turn, so
``call_at`` fires anywhere from ~1 ms early to ~1 ms late — at 1000 req/s that is the whole gap
between two Poisson arrivals. A pacer wakes the dispatcher (:mod:`loadgen.dispatch`) precisely:

- ``timerfd`` (Linux, the default there): a kernel hrtimer on CLOCK_MONOTONIC — the clock of
  ``perf_counter_ns`` — armed with an absolute deadline and watched with ``loop.add_reader``,
  so the loop sleeps in epoll until the kernel says the deadline passed. Measured on the 2-core
  development VM: woken 20–45 µs after the deadline (p50 ~42 µs), never early.
- ``spin``: ``call_at`` ~1.5 ms early (the timer's quantisation), then yield to the loop turn by
  turn, then busy-wait the last ``spin_ns`` without yielding. Works everywhere; burns CPU.
- ``yield``: like ``spin`` without the final busy-wait (the lateness is one loop turn).

Every pacer wakes at ``deadline − spin_ns`` at the earliest; the dispatcher busy-waits the rest
(:func:`wait_until`), so a pacer with a known wake-up latency can hide it by waking that much
early. The busy-wait blocks the loop for at most ``spin_ns`` per wake, which bounds how much it
can delay an arrival stamp.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable
from time import perf_counter_ns
from typing import Protocol

from catalog.registry import Registry

#: uvloop timers are whole milliseconds on a cached clock: wake this much early, then yield.
COARSE_NS = 1_500_000


class Pacer(Protocol):
    #: the dispatcher busy-waits the last ``spin_ns`` before a deadline itself
    spin_ns: int

    def arm(self, deadline_ns: int) -> None:
        """Call the callback once, at ``deadline_ns - spin_ns`` or later (a new arm replaces it)."""

    def close(self) -> None: ...


PacerFactory = Callable[[asyncio.AbstractEventLoop, Callable[[], None]], Pacer]
PACERS: Registry[PacerFactory] = Registry("pacer")


def wait_until(deadline_ns: int) -> int:
    """Busy-wait (no yield) until ``perf_counter_ns() >= deadline_ns``; return that time."""
    now = perf_counter_ns()
    while now < deadline_ns:
        now = perf_counter_ns()
    return now


class _Coarse:
    """``call_at`` early by the timer's quantisation, then one loop turn at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None], spin_ns: int) -> None:
        self.loop, self.callback, self.spin_ns = loop, callback, spin_ns
        self.handle: asyncio.Handle | None = None
        self.deadline = 0

    def arm(self, deadline_ns: int) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.deadline = deadline_ns
        left = deadline_ns - self.spin_ns - perf_counter_ns()
        if left > COARSE_NS:
            self.handle = self.loop.call_at(self.loop.time() + (left - COARSE_NS) / 1e9, self._fire)
        else:
            self.handle = self.loop.call_soon(self._fire)

    def _fire(self) -> None:
        self.handle = None
        if perf_counter_ns() < self.deadline - self.spin_ns:
            self.arm(self.deadline)  # woke early (coarse timer) or yielded: one more turn
            return
        self.callback()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


@PACERS.register("spin")
def _spin(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> Pacer:
    return _Coarse(loop, callback, spin_ns=200_000)


@PACERS.register("yield")
def _yield(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> Pacer:
    return _Coarse(loop, callback, spin_ns=0)


# ----------------------------------------------------------------------------- timerfd
_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        lib.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec),
                                        ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return lib


class TimerFd:
    """A kernel timer on CLOCK_MONOTONIC (= perf_counter_ns on Linux), absolute deadlines."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None], spin_ns: int = 50_000):
        lib = _libc()
        if lib is None:
            raise OSError("timerfd needs Linux")
        fd = lib.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self.lib, self.fd, self.loop, self.callback, self.spin_ns = lib, fd, loop, callback, spin_ns
        self.spec = _Itimerspec()  # reused: arming allocates nothing
        self.ref = ctypes.byref(self.spec)
        self.deadline = 0
        loop.add_reader(fd, self._fire)

    def arm(self, deadline_ns: int) -> None:
        self.deadline = deadline_ns
        wake = max(deadline_ns - self.spin_ns, 1)  # an all-zero value would disarm the timer
        self.spec.it_value.tv_sec, self.spec.it_value.tv_nsec = divmod(wake, 1_000_000_000)
        if self.lib.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, self.ref, None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def _fire(self) -> None:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:  # re-armed after it had fired: nothing to run
            return
        self.callback()

    def close(self) -> None:
        if self.fd >= 0:
            self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1


@PACERS.register("timerfd")
def _timerfd(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> Pacer:
    return TimerFd(loop, callback)


def default_pacer() -> str:
    return "timerfd" if _libc() is not None else "spin"


def make_pacer(name: str | None, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> Pacer:
    return PACERS.get(name or default_pacer())(loop, callback)
