"""The sender path: one dispatcher writes every request at its instant; readers never wait on it.

There is no coroutine per request or per concurrency slot. Open connections wait in a FIFO
(every connection takes its turn, so none goes cold); the dispatcher owns the schedule and a
pacer (:mod:`loadgen.pacer`). When the pacer fires, every request that is due and has a free
connection is written at once — ``sent_ns`` stamped right before its one ``transport.write`` —
and the pacer is armed for the next target. When a response ends, its connection goes back to
the FIFO; if a request is waiting for it, the first such request is written right there (inside
the ``data_received`` that saw the end) and any others are written together at the end of that
loop turn, after the turn's arrivals were stamped. Nothing else runs per request while requests
are in flight: records are built before t0, timeouts and stop requests are swept every
``SWEEP_S`` from an ordered list, and SSE is parsed after the run.

``scheduled_ns = max(target, the moment the connection it used became free)``: a request that
had to wait for the concurrency cap is scheduled when the cap let it go.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from time import perf_counter_ns

from loadgen.client import CLOSED_BEFORE_RESPONSE, Connection, Slot
from loadgen.pacer import make_pacer, wait_until
from loadgen.records import RawRecord

STOPPED = "stopped"
CANCELLED = "cancelled: the run was stopped"
#: Stop early when this many requests in a row cannot even connect: the server is gone.
DEAD_AFTER = 3
#: Stop early when the first this many requests all failed the same way: the rest would too.
HOPELESS_AFTER = 16
#: How often timeouts and the stop flag are checked (never on the send path).
SWEEP_S = 0.02


class Dispatcher:
    def __init__(
        self,
        slots: Sequence[Slot],
        records: Sequence[RawRecord],  # in schedule order, built before t0
        wire: Sequence[bytes],  # the request bytes of each record
        offsets_ns: Sequence[int],  # send target of each record, from t0 (given to run)
        *,
        timeout_s: float,
        deadline_ns: int | None = None,  # no send at or after this instant (--duration)
        pacer: str | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_done: Callable[[int], None] | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.records, self.wire, self.offsets = records, wire, offsets_ns
        self.t0 = 0
        self.n = len(records)
        self.pos = 0  # next record to send
        self.timeout_ns = int(timeout_s * 1e9)
        self.timeout_s = timeout_s
        self.deadline = deadline_ns
        self.should_stop, self.on_done = should_stop, on_done
        self.free: deque[tuple[Slot, int]] = deque((s, 0) for s in slots)
        self.inflight: deque[tuple[Slot, RawRecord]] = deque()  # in send order, for the sweep
        self.active = 0  # requests sent and not yet ended
        self.sent: list[RawRecord] = []
        self.stopped: str | None = None
        self.ended = False  # no more sends (all sent, duration over, or stopped)
        self.dead = 0
        self.judged = 0  # requests ended so far, up to HOPELESS_AFTER
        self.alike: str | None = None  # how every one of them failed (None: one worked)
        self.pump_soon = False
        self.tasks: dict[asyncio.Task[None], tuple[Slot, RawRecord]] = {}  # the slow path
        self.unhanded: set[int] = set()  # id() of slow-path records not yet sent or failed
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self.pacer = make_pacer(pacer, self.loop, self.pump)
        self.sweeper: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ run
    async def run(self, t0_ns: int) -> None:
        """Send everything, the targets counted from ``t0_ns``; return when all have ended."""
        self.t0 = t0_ns
        self.sweeper = self.loop.call_later(SWEEP_S, self.sweep)
        try:
            self.pump()
            await self.finished
        finally:
            self.pacer.close()
            if self.sweeper is not None:
                self.sweeper.cancel()
            for t in list(self.tasks):
                t.cancel()

    def stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason
        self.ended = True
        for slot, rec in list(self.inflight):
            if slot.conn is not None and slot.conn.rec is rec:
                slot.conn.abort(CANCELLED)
        for t in list(self.tasks):
            t.cancel()
        self._check_done()

    # ------------------------------------------------------------------ the send path
    def pump(self) -> None:
        """Send every due request that has a connection; arm the pacer for the next one."""
        self.pump_soon = False
        offsets, t0, free, spin = self.offsets, self.t0, self.free, self.pacer.spin_ns
        now = perf_counter_ns()
        while self.pos < self.n and not self.ended:
            target = t0 + offsets[self.pos]
            if self.deadline is not None and (target >= self.deadline or now >= self.deadline):
                self.ended = True
                break
            if target > now:
                if target - now > spin:
                    self.pacer.arm(target)
                    return
                now = wait_until(target)  # the last few µs: a timer would wake later than this
            if not free:
                return  # the cap: the next response to end sends it
            self._send(free.popleft(), target)
            now = perf_counter_ns()
        if self.pos >= self.n:
            self.ended = True
        self._check_done()

    def _send(self, slot_free: tuple[Slot, int], target: int) -> None:
        slot, free_ns = slot_free
        k = self.pos
        self.pos += 1
        rec = self.records[k]
        rec.target_ns, rec.scheduled_ns = target, max(target, free_ns)
        self.sent.append(rec)
        self.active += 1
        self.inflight.append((slot, rec))
        conn = slot.conn
        if conn is not None and not conn.closed:
            conn.start(rec, self.wire[k], self._ended)
        else:
            self._spawn(slot, rec, self.wire[k])

    def _spawn(self, slot: Slot, rec: RawRecord, data: bytes) -> None:
        task = asyncio.ensure_future(self._connect_and_send(slot, rec, data))
        self.tasks[task] = (slot, rec)
        self.unhanded.add(id(rec))
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        slot, rec = self.tasks.pop(task)
        if id(rec) in self.unhanded:
            # cancelled (stop) before it handed its request on — it may never even have run
            self.unhanded.discard(id(rec))
            rec.error, rec.end_ns = rec.error or CANCELLED, perf_counter_ns()
            self._release(slot, rec)
        self._check_done()

    async def _connect_and_send(self, slot: Slot, rec: RawRecord, data: bytes) -> None:
        """The slow path: this slot's connection is gone (closed by the server, or failed)."""
        try:
            stamps = await slot.connect()
        except Exception as exc:  # OSError, ssl.SSLError, TimeoutError: all a failed connect
            self.unhanded.discard(id(rec))
            rec.error = f"connect failed: {exc}"
            rec.end_ns = perf_counter_ns()
            slot.conn = None
            self._release(slot, rec)
            return
        self.unhanded.discard(id(rec))
        rec.connect_start_ns, rec.connect_end_ns, rec.tls_end_ns = stamps
        conn = slot.conn
        assert conn is not None
        if self.stopped is not None:
            rec.error, rec.end_ns = CANCELLED, perf_counter_ns()
            self._release(slot, rec)
            return
        conn.start(rec, data, self._ended)

    # ------------------------------------------------------------------ responses
    def _ended(self, conn: Connection, rec: RawRecord) -> None:
        """A response ended (or failed) on ``conn``: runs inside that connection's callback."""
        slot = conn.slot
        assert isinstance(slot, Slot)
        if (conn.served > 1 and not rec.status and not rec.retried and self.stopped is None
                and rec.error is not None and rec.error.startswith(CLOSED_BEFORE_RESPONSE)):
            # A kept-alive connection the server closed just as we reused it (the idle-timeout
            # race): nothing reached the application, so send once more on a fresh connection.
            rec.error, rec.end_ns, rec.headers_ns, rec.retried = None, 0, 0, True
            rec.body.clear()
            rec.stamps.clear()
            slot.conn = None
            self._spawn(slot, rec, self.wire[self.records.index(rec)])
            return
        self._release(slot, rec)

    def _hopeless(self, rec: RawRecord) -> bool:
        """True once the first :data:`HOPELESS_AFTER` requests all failed the same way (status
        or client error, before any detail); a single success ends the judging."""
        self.judged += 1
        why = (rec.error or "").split(":")[0] or (f"HTTP {rec.status}" if rec.status != 200 else None)
        if why is None or (self.alike is not None and why != self.alike):
            self.judged = HOPELESS_AFTER  # worked, or failed differently: not hopeless
            return False
        self.alike = why
        return self.judged == HOPELESS_AFTER

    def _release(self, slot: Slot, rec: RawRecord) -> None:
        """Free the request's connection and send what waits for one."""
        self.active -= 1
        if slot.conn is not None and (slot.conn.closed or not slot.conn.keep_alive):
            slot.conn = None
        self.free.append((slot, rec.end_ns or perf_counter_ns()))
        if self.on_done is not None:
            self.on_done(1)
        if rec.error is not None and rec.error.startswith("connect failed"):
            self.dead += 1
            if self.dead >= DEAD_AFTER:
                self.stop(f"server unreachable: {rec.error}")
                return
        else:
            self.dead = 0
        if self.judged < HOPELESS_AFTER and self._hopeless(rec):
            self.stop(f"hopeless: the first {HOPELESS_AFTER} requests all failed alike ({self.alike})")
            return
        if self.ended or self.pos >= self.n or self.pump_soon:
            self._check_done()
            return
        if self.t0 + self.offsets[self.pos] <= perf_counter_ns():
            # The first waiting request goes now; others that free up in this same loop turn go
            # together at its end (the pump), after the turn's arrivals were stamped.
            self.pump_soon = True
            self.loop.call_soon(self.pump)
            self._send_due_one()

    def _send_due_one(self) -> None:
        now = perf_counter_ns()
        if self.deadline is not None and now >= self.deadline:
            self.ended = True
            self._check_done()
            return
        self._send(self.free.popleft(), self.t0 + self.offsets[self.pos])

    def _check_done(self) -> None:
        if self.ended and self.active == 0 and not self.tasks and not self.finished.done():
            self.finished.set_result(None)

    def sweep(self) -> None:
        """Every SWEEP_S: the stop flag, and timeouts (oldest first, O(1) per ended request)."""
        if self.should_stop is not None and self.stopped is None and self.should_stop():
            self.stop(STOPPED)
        now = perf_counter_ns()
        q = self.inflight
        while q:
            slot, rec = q[0]
            if rec.end_ns:
                q.popleft()
            elif not rec.sent_ns:
                break  # still connecting (slow path): connect() has its own failure modes
            elif now - rec.sent_ns >= self.timeout_ns:
                q.popleft()
                if slot.conn is not None and slot.conn.rec is rec:
                    slot.conn.expire(self.timeout_s)
            else:
                break
        if not self.finished.done():
            self.sweeper = self.loop.call_later(SWEEP_S, self.sweep)

