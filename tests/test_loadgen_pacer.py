"""Pacers and the dispatcher's send path on a real uvloop loop and the real clock.

Bounds on lateness are generous (the test machine is shared); the figures that matter —
p50/p99 lag at 1000-5000 req/s — are printed by scripts/bench_loadgen.py. What must hold
exactly: no request is ever sent before its target, and ``scheduled = max(target, free)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

import pytest
import uvloop

from loadgen.client import Connection, Slot, parse_endpoint
from loadgen.dispatch import Dispatcher
from loadgen.pacer import PACERS, default_pacer, make_pacer, wait_until
from loadgen.records import RawRecord

MS = 1_000_000
#: a quiet loop wakes within ~0.1 ms; a shared CI machine can deschedule us for tens of ms
LATE_BOUND_NS = 50 * MS


def _run(coro_fn: Callable[[], Any]) -> Any:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro_fn())


def test_wait_until_is_never_early() -> None:
    for delta in (0, 1_000, 50_000, 300_000):
        deadline = perf_counter_ns() + delta
        assert wait_until(deadline) >= deadline
        assert perf_counter_ns() >= deadline


def test_registry_and_default() -> None:
    assert {"timerfd", "spin", "yield"} <= set(PACERS.names())
    assert default_pacer() in PACERS


@pytest.mark.parametrize("name", ["timerfd", "spin", "yield"])
def test_pacer_fires_once_never_before_its_wake_time(name: str) -> None:
    if name == "timerfd" and default_pacer() != "timerfd":
        pytest.skip("timerfd needs Linux")

    async def go() -> list[tuple[int, int, int, int]]:
        loop = asyncio.get_running_loop()
        fired: list[int] = []
        pacer = make_pacer(name, loop, lambda: fired.append(perf_counter_ns()))
        out = []
        try:
            for delta in (0, 30_000, 200_000, 900_000, 2_500_000, 7_000_000):
                deadline = perf_counter_ns() + delta
                fired.clear()
                pacer.arm(deadline)
                while not fired:
                    await asyncio.sleep(0)
                await asyncio.sleep(0.003)  # a second fire would show up here
                out.append((deadline, fired[0], len(fired), pacer.spin_ns))
        finally:
            pacer.close()
        return out

    for deadline, at, count, spin in _run(go):
        assert count == 1
        assert at >= deadline - spin  # the dispatcher busy-waits the last spin_ns itself
        assert at - deadline < LATE_BOUND_NS


def test_rearming_replaces_the_deadline() -> None:
    async def go() -> tuple[list[int], int]:
        loop = asyncio.get_running_loop()
        fired: list[int] = []
        pacer = make_pacer(None, loop, lambda: fired.append(perf_counter_ns()))
        try:
            pacer.arm(perf_counter_ns() + 10_000 * MS)  # far away...
            near = perf_counter_ns() + 2 * MS
            pacer.arm(near)  # ...replaced by a near one
            await asyncio.sleep(0.05)
        finally:
            pacer.close()
        return fired, near - pacer.spin_ns

    fired, earliest = _run(go)
    assert len(fired) == 1 and fired[0] >= earliest


# ----------------------------------------------------------------------------- the dispatcher
class EchoWire(asyncio.Transport):
    """A transport that answers each request one loop turn later with a one-event stream."""

    EVENT = b'data: {"choices":[{"text":"x"}]}\n\n'
    RESPONSE = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(EVENT), EVENT)
    )

    def __init__(self, conn: Connection, delay_s: float) -> None:
        super().__init__()
        self.conn, self.delay_s = conn, delay_s

    def write(self, data: bytes) -> None:  # type: ignore[override]
        asyncio.get_running_loop().call_later(self.delay_s, self.conn.data_received, self.RESPONSE)

    def close(self) -> None:
        self.conn.closed = True

    def is_closing(self) -> bool:
        return self.conn.closed


def _slots(n: int, delay_s: float) -> list[Slot]:
    slots = []
    for _ in range(n):
        slot = Slot(parse_endpoint("http://127.0.0.1:9"))
        conn = Connection()
        conn.transport = EchoWire(conn, delay_s)
        conn.slot, slot.conn = slot, conn
        slots.append(slot)
    return slots


def _dispatch(offsets_ns: list[int], conc: int, delay_s: float, pacer: str | None = None) -> list[RawRecord]:
    async def go() -> list[RawRecord]:
        recs = [RawRecord(i, f"r{i}", "h", 1, 1) for i in range(len(offsets_ns))]
        d = Dispatcher(_slots(conc, delay_s), recs, [b"x"] * len(recs), offsets_ns, timeout_s=5.0,
                       pacer=pacer)
        await d.run(perf_counter_ns() + 2 * MS)
        return d.sent

    result: list[RawRecord] = _run(go)
    return result


@pytest.mark.parametrize("pacer", ["timerfd", "spin", "yield"])
def test_open_loop_sends_are_never_early(pacer: str) -> None:
    if pacer == "timerfd" and default_pacer() != "timerfd":
        pytest.skip("timerfd needs Linux")
    offsets = [k * 300_000 + (k % 3) * 40_000 for k in range(60)]  # 0.3 ms apart, some closer
    sent = _dispatch(offsets, conc=64, delay_s=0.0005, pacer=pacer)
    assert [r.index for r in sent] == list(range(60))
    for r in sent:
        assert r.scheduled_ns == r.target_ns  # 64 connections: the cap never bound
        assert r.sent_ns >= r.target_ns
        assert r.sent_ns - r.target_ns < LATE_BOUND_NS
        assert r.end_ns > r.sent_ns and r.error is None


def test_the_cap_holds_requests_until_a_connection_frees() -> None:
    sent = _dispatch([0] * 12, conc=3, delay_s=0.002)  # closed loop: 3 at a time
    assert len(sent) == 12 and all(r.error is None for r in sent)
    for r in sent[:3]:
        assert r.scheduled_ns == r.target_ns
    ends = sorted(r.end_ns for r in sent)
    for r in sent[3:]:
        # scheduled when a response ended (the connection freed), sent no earlier
        assert r.scheduled_ns in ends and r.sent_ns >= r.scheduled_ns > r.target_ns
    in_flight = [sum(1 for q in sent if q.sent_ns <= r.sent_ns < q.end_ns) for r in sent]
    assert max(in_flight) <= 3
