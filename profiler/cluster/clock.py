"""How each worker's clock relates to the driver's: an RTT-bounded exchange, NTP-style.

The driver reads its wall clock and its monotonic clock together, asks the worker for its wall
clock, and reads both again when the answer is back. The worker's reading was taken somewhere
inside that round trip, so with the round trip's midpoint as the estimate

    offset = worker wall − (driver wall at send + RTT / 2),   |error| ≤ RTT / 2

whatever the asymmetry of the two directions. Several round trips are made and the one with
the smallest RTT is kept: its bound is the tightest (scheduling noise only ever lengthens a
trip). The RTT is measured on the monotonic clock, the offset on the wall clock: one clock per
purpose (DESIGN §3).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: Round trips per worker: enough for one to miss every scheduling hiccup of a loaded host.
SAMPLES = 16


@dataclass(frozen=True)
class Sample:
    wall_sent_ns: int  # the driver's wall clock just before asking
    rtt_ns: int  # monotonic time from asking to the answer
    remote_wall_ns: int  # the worker's wall clock, read somewhere inside that trip

    @property
    def offset_ns(self) -> int:
        return self.remote_wall_ns - (self.wall_sent_ns + self.rtt_ns // 2)


@dataclass(frozen=True)
class ClockOffset:
    offset_ns: int  # the worker's wall clock − the driver's
    bound_ns: int  # |error| ≤ this: half the best round trip
    rtt_ns: int
    samples: int


def best(samples: Sequence[Sample]) -> ClockOffset:
    """The estimate from the round trip with the smallest RTT (pure)."""
    if not samples:
        raise ValueError("no clock samples")
    s = min(samples, key=lambda x: x.rtt_ns)
    return ClockOffset(s.offset_ns, (s.rtt_ns + 1) // 2, s.rtt_ns, len(samples))


def exchange(ask: Callable[[], int], n: int = SAMPLES) -> ClockOffset:
    """``ask()`` returns the remote wall clock (ns); ``n`` round trips, the best one kept."""
    samples = []
    for _ in range(n):
        w0, p0 = time.time_ns(), time.perf_counter_ns()
        remote = ask()
        p1 = time.perf_counter_ns()
        samples.append(Sample(w0, p1 - p0, int(remote)))
    return best(samples)


def shift_ns(
    anchor_wall_ns: int, anchor_perf_ns: int, offset_ns: int, driver_wall_ns: int, driver_perf_ns: int
) -> int:
    """What to add to a worker's monotonic stamp to place it on the driver's monotonic clock.

    worker mono → worker wall (its anchor) → driver wall (− offset) → driver mono (its anchor).
    A constant per worker, so every interval within a worker is unchanged.
    """
    return (anchor_wall_ns - anchor_perf_ns) - offset_ns - (driver_wall_ns - driver_perf_ns)
