"""One event loop driving one share of a run: connect, warm up, then follow the schedule.

Concurrency is C keep-alive connections, all opened before anything is measured; the warm-up
requests then run over them, and the measured phase is handed to one
:class:`loadgen.dispatch.Dispatcher`, which writes each request at its target on the first free
connection — the same FIFO semantics as vLLM's semaphore, but the moment a connection frees is
known exactly (the previous response's end stamp), so ``scheduled_ns = max(target, slot free)``
and ``sent − scheduled`` is pure client delay.

Two probes run beside it and never touch a request: an event-loop lag probe (how long a ready
callback waits — the same wait a just-arrived chunk's stamp suffers) and the process CPU time,
both summarised by :func:`loadgen.health.client_health`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Any

from loadgen.client import Slot, build_request, parse_endpoint, request_body, tls_context
from loadgen.dispatch import STOPPED, Dispatcher
from loadgen.records import RawRecord
from loadgen.workload import Prompt

PROBE_INTERVAL_S = 0.01
STOP_POLL_S = 0.05  # how often warm-up looks at the stop flag
STOPPED_IN_WARMUP = f"{STOPPED} during warm-up"


@dataclass
class Share:
    """What one process drives: a slice of the requests and of the concurrency."""

    base_url: str
    model: str
    api: str
    prompts: list[Prompt]  # all prompts of the run (indexed by request index)
    indices: list[int]  # the request indices this share sends, in schedule order
    offsets_ns: list[int]  # per request index, from the run's start
    concurrency: int
    warmup_prompts: list[Prompt] = field(default_factory=list)
    duration_s: float | None = None
    timeout_s: float = 600.0
    extra_body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    worker: int = 0
    tls_ca: str | None = None  # CA bundle for https endpoints (default: the system's)
    tls_verify: bool = True
    pacer: str | None = None  # loadgen.pacer.PACERS name; None = the platform's best


@dataclass
class ShareResult:
    records: list[RawRecord]
    loop_lag_ns: list[int]
    cpu_s: float
    wall_s: float
    connect_ms: list[float]
    stopped: str | None  # why sending stopped early, if it did
    t0_ns: int
    wall_anchor: dict[str, int]


def _resolve_now(fut: asyncio.Future[int]) -> None:
    if not fut.done():
        fut.set_result(perf_counter_ns())


async def _probe_loop_lag(out: list[int], from_ns: int = 0) -> None:
    loop = asyncio.get_running_loop()
    wait_ns = from_ns - perf_counter_ns()
    if wait_ns > 0:  # the loop idles until the common start: nothing to measure before it
        await asyncio.sleep(wait_ns / 1e9)
    while True:
        await asyncio.sleep(PROBE_INTERVAL_S)
        fut: asyncio.Future[int] = loop.create_future()
        queued = perf_counter_ns()
        loop.call_soon(_resolve_now, fut)
        out.append(await fut - queued)


async def _stopped_while(
    tasks: Sequence[asyncio.Future[None]], should_stop: Callable[[], bool] | None
) -> bool:
    """Wait for ``tasks``; True (and every task cancelled) as soon as ``should_stop`` says so."""
    pending = set(tasks)
    while pending:
        _, pending = await asyncio.wait(pending, timeout=STOP_POLL_S)
        if pending and should_stop is not None and should_stop():
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            return True
    for t in tasks:
        t.result()  # a warm-up that raised raises here
    return False


async def drive(
    share: Share,
    *,
    start_at: Callable[[], int] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_done: Callable[[int], None] | None = None,
) -> ShareResult:
    """Run a share. ``start_at`` (blocking, after warm-up) returns the common t0 of all shares."""
    ep = parse_endpoint(share.base_url)
    mk = share.model
    # Every request body is built before the clock starts (DESIGN §8.1).
    wire = {
        i: build_request(
            ep, share.api,
            request_body(
                share.api, mk, share.prompts[i].text, share.prompts[i].output_tokens, share.extra_body
            ),
            f"r{i}", share.headers,
        )
        for i in share.indices
    }
    warm = [
        build_request(
            ep, share.api, request_body(share.api, mk, p.text, p.output_tokens, share.extra_body),
            f"w{share.worker}-{k}", share.headers,
        )
        for k, p in enumerate(share.warmup_prompts)
    ]
    conc = max(1, min(share.concurrency, max(len(share.indices), 1)))
    tls = tls_context(share.tls_ca, share.tls_verify) if ep.tls else None
    slots = [Slot(ep, tls) for _ in range(conc)]
    records: list[RawRecord] = []

    # 1. open every connection before anything is measured
    errors: list[str] = []

    async def _open(slot: Slot) -> float:
        try:
            s, tcp, _ = await slot.connect()
        except OSError as exc:
            errors.append(str(exc) or type(exc).__name__)
            return math.nan
        return (tcp - s) / 1e6

    sem = asyncio.Semaphore(64)  # no SYN flood at c=512

    async def _open_limited(slot: Slot) -> float:
        async with sem:
            return await _open(slot)

    connect_ms = list(await asyncio.gather(*(_open_limited(s) for s in slots)))
    if all(math.isnan(c) for c in connect_ms):
        for s in slots:
            s.close()
        raise ConnectionError(f"cannot connect to {share.base_url}: {errors[0]}")

    # 2. warm-up: excluded from results, spreads over the open connections
    async def _warm(k: int) -> None:
        for j in range(k, len(warm), conc):
            p = share.warmup_prompts[j]
            rec = RawRecord(j, f"w{share.worker}-{j}", p.hash, p.input_tokens, p.output_tokens, warmup=True,
                            worker=share.worker)
            rec.target_ns = rec.scheduled_ns = perf_counter_ns()
            records.append(rec)
            await slots[k].exchange(rec, warm[j], share.timeout_s)

    warming = [asyncio.ensure_future(_warm(k)) for k in range(conc)]
    if await _stopped_while(warming, should_stop):  # Ctrl-C need not wait for a silent server
        for s in slots:
            s.close()
        return ShareResult(
            records=records, loop_lag_ns=[], cpu_s=0.0, wall_s=0.0,
            connect_ms=[c for c in connect_ms if not math.isnan(c)], stopped=STOPPED_IN_WARMUP,
            t0_ns=perf_counter_ns(), wall_anchor={"wall_ns": time.time_ns(), "perf_ns": perf_counter_ns()},
        )

    # 3. the measured phase, from a common t0. Records are built first: nothing is allocated
    # per request on the send path.
    recs = [
        RawRecord(i, f"r{i}", share.prompts[i].hash, share.prompts[i].input_tokens,
                  share.prompts[i].output_tokens, worker=share.worker)
        for i in share.indices
    ]
    sender = Dispatcher(
        slots, recs, [wire[i] for i in share.indices], [share.offsets_ns[i] for i in share.indices],
        timeout_s=share.timeout_s, pacer=share.pacer, should_stop=should_stop, on_done=on_done,
    )
    t0 = start_at() if start_at is not None else perf_counter_ns()
    anchor = {"wall_ns": time.time_ns(), "perf_ns": perf_counter_ns()}
    if share.duration_s:
        sender.deadline = t0 + int(share.duration_s * 1e9)
    lag: list[int] = []
    # the client's own CPU share and loop lag are those of the measured window, from t0: a
    # common start lies up to a margin ahead (workers, Ray), and idling until then is no load
    cpu0, wall0 = time.process_time(), max(perf_counter_ns(), t0)
    probe = asyncio.ensure_future(_probe_loop_lag(lag, t0))
    try:
        await sender.run(t0)
    finally:
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe
        for s in slots:
            s.close()
    records.extend(sender.sent)
    return ShareResult(
        records=records,
        loop_lag_ns=lag,
        cpu_s=time.process_time() - cpu0,
        wall_s=(perf_counter_ns() - wall0) / 1e9,
        connect_ms=[c for c in connect_ms if not math.isnan(c)],
        stopped=sender.stopped,
        t0_ns=t0,
        wall_anchor=anchor,
    )
