"""Timing a GPU operation by the host clock, with CUDA events as a cross-check.

Inside a confidential VM the CUDA event timer has been seen to return nonsense (negative
``cudaEventElapsedTime``) and nsys cannot see the GPU, so the figure we report is host time:
``time.perf_counter_ns()`` read after a ``synchronize()`` that drains the queue, around a batch
of ``iters`` calls, then a second ``synchronize()``. A batch lasts at least
``Policy.min_batch_ns`` (the iteration count grows until it does), so the fixed cost of the
two synchronizes and of the first launch is a small share of it.

CUDA events recorded around the same batch are kept as a cross-check. A batch is flagged when
the event time is missing, negative or zero, or differs from the host time by more than
``max(rel_tol × host, abs_tol_ns)`` — by default 10 % or 50 µs, whichever is larger. The 50 µs
covers what the host interval holds and the event interval does not: the wake-up after the
final synchronize and the launch of the first event (both a few µs outside CC, tens of µs
inside it). The host figure is reported either way; the flag says whether events agreed.

Everything here takes its clock, synchronize and events from a :class:`Clock`, so it runs the
same code on a GPU and under a fake clock in the tests.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

#: Per-batch verdicts of the cross-check, worst first (the run's flag is the worst seen).
FLAGS = ("event_negative", "event_zero", "event_disagrees", "no_events", "agree")


class EventTimer(Protocol):
    """A pair of GPU timestamps on the current stream (torch.cuda.Event with timing on)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def elapsed_ns(self) -> float | None:
        """Nanoseconds between start and stop; called after a synchronize. None if unreadable."""


class Clock(Protocol):
    def now_ns(self) -> int: ...

    def sync(self) -> None: ...

    def event_timer(self) -> EventTimer | None: ...


@dataclass(frozen=True)
class Policy:
    """How long to measure and when events disagree (see the module docstring)."""

    min_batch_ns: int = 20_000_000
    batches: int = 3
    max_iters: int = 1_000_000
    #: stop growing the iteration count once calibration has spent this much
    max_calibration_ns: int = 2_000_000_000
    warmup: int = 1
    rel_tol: float = 0.10
    abs_tol_ns: int = 50_000

    def __post_init__(self) -> None:
        if self.min_batch_ns <= 0 or self.batches < 1 or self.max_iters < 1:
            raise ValueError("min_batch_ns, batches and max_iters must be positive")

    def describe(self) -> dict[str, Any]:
        return {
            "clock": "host perf_counter_ns around synchronize (reported)",
            "cross_check": "CUDA events over the same batch",
            "min_batch_ms": self.min_batch_ns / 1e6,
            "batches": self.batches,
            "disagree_if": f"|event - host| > max({self.rel_tol:.0%} of host, "
            f"{self.abs_tol_ns / 1e3:g} us) per batch, or event <= 0",
        }


@dataclass(frozen=True)
class Batch:
    iters: int
    host_ns: int  # first call → after the final synchronize
    enqueue_ns: int  # first call → last call returned (before the final synchronize)
    event_ns: float | None


def cross_check(batch: Batch, policy: Policy) -> str:
    """One of :data:`FLAGS` for one batch."""
    e = batch.event_ns
    if e is None or (isinstance(e, float) and math.isnan(e)):
        return "no_events"
    if e < 0:
        return "event_negative"
    if e == 0:
        return "event_zero"
    if abs(e - batch.host_ns) > max(policy.rel_tol * batch.host_ns, policy.abs_tol_ns):
        return "event_disagrees"
    return "agree"


@dataclass(frozen=True)
class Timing:
    """The result of :func:`measure`: host time per call (reported) and the event cross-check."""

    batches: tuple[Batch, ...]
    flags: tuple[str, ...]
    policy: Policy = field(default_factory=Policy)

    @property
    def iters(self) -> int:
        return self.batches[0].iters

    @property
    def per_iter_ns(self) -> float:
        """Median over batches of host time per call: the reported figure."""
        return float(statistics.median(b.host_ns / b.iters for b in self.batches))

    @property
    def enqueue_per_iter_ns(self) -> float:
        return float(statistics.median(b.enqueue_ns / b.iters for b in self.batches))

    @property
    def event_per_iter_ns(self) -> float | None:
        vals = [b.event_ns / b.iters for b in self.batches if b.event_ns is not None]
        return float(statistics.median(vals)) if vals else None

    @property
    def flag(self) -> str:
        return min(self.flags, key=FLAGS.index)

    @property
    def below_min_batch(self) -> bool:
        return any(b.host_ns < self.policy.min_batch_ns for b in self.batches)

    def params(self) -> dict[str, Any]:
        """What a result row stores next to the value (the results table's ``params``)."""
        per = [b.host_ns / b.iters / 1e3 for b in self.batches]
        ev = self.event_per_iter_ns
        return {
            "timing": "host",
            "events": self.flag,
            "events_flagged_batches": sum(f != "agree" for f in self.flags),
            "event_us": round(ev / 1e3, 4) if ev is not None else None,
            "host_us": round(self.per_iter_ns / 1e3, 4),
            "host_us_min": round(min(per), 4),
            "host_us_max": round(max(per), 4),
            "iters": self.iters,
            "batches": len(self.batches),
            "batch_below_min": self.below_min_batch,
        }


def time_batch(fn: Callable[[], Any], iters: int, clock: Clock) -> Batch:
    """Run ``fn`` ``iters`` times between two synchronizes; host and event time of the batch."""
    clock.sync()
    timer = clock.event_timer()
    t0 = clock.now_ns()
    if timer is not None:
        timer.start()
    for _ in range(iters):
        fn()
    if timer is not None:
        timer.stop()
    t1 = clock.now_ns()
    clock.sync()
    t2 = clock.now_ns()
    event = timer.elapsed_ns() if timer is not None else None
    return Batch(iters=iters, host_ns=t2 - t0, enqueue_ns=t1 - t0, event_ns=event)


def next_iters(iters: int, host_ns: int, policy: Policy) -> int:
    """The iteration count for the next calibration batch: aim 25 % past the minimum."""
    if host_ns <= 0:
        return min(policy.max_iters, iters * 10)
    want = math.ceil(iters * policy.min_batch_ns * 1.25 / host_ns)
    return min(policy.max_iters, max(iters * 2, min(want, iters * 100)))


def calibrate(fn: Callable[[], Any], clock: Clock, policy: Policy) -> int:
    """Grow the iteration count until one batch lasts ``min_batch_ns`` (or a bound is hit)."""
    for _ in range(policy.warmup):
        fn()
    clock.sync()
    iters, spent = 1, 0
    while True:
        b = time_batch(fn, iters, clock)
        spent += b.host_ns
        if b.host_ns >= policy.min_batch_ns or iters >= policy.max_iters:
            return iters
        if spent >= policy.max_calibration_ns:  # a slow call: keep it; rows say batch_below_min
            return iters
        iters = next_iters(iters, b.host_ns, policy)


def measure(fn: Callable[[], Any], clock: Clock, policy: Policy | None = None, *,
            iters: int | None = None) -> Timing:
    """Time ``fn``: calibrate (unless ``iters`` is given), then ``policy.batches`` batches."""
    policy = policy or Policy()
    n = iters if iters is not None else calibrate(fn, clock, policy)
    batches = tuple(time_batch(fn, n, clock) for _ in range(policy.batches))
    return Timing(batches, tuple(cross_check(b, policy) for b in batches), policy)
