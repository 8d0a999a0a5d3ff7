"""Run a workload against one endpoint: ``run(spec) -> RunResult``.

One process drives the whole run on a uvloop event loop, or ``workers = N`` spawned processes
each drive a share (``loadgen.schedule.shard``: the one seeded schedule, its requests dealt to
the processes; concurrency split evenly) for more load than one core can stamp on time. All
processes warm up first, then start from one common t0; their ``perf_counter_ns()`` stamps are
CLOCK_MONOTONIC, one clock for the whole host, so the merged records compare directly.

Ctrl-C (SIGINT) or ``stop.set()`` stops sending; in-flight requests are marked cancelled and
the result says ``interrupted`` (Ctrl-C) or ``stopped`` (the flag) — the caller saves it as an
incomplete run.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import multiprocessing as mp
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from time import perf_counter_ns
from types import FrameType
from typing import Any, Protocol

import pandas as pd

from loadgen.dispatch import STOPPED
from loadgen.drive import Share, ShareResult, drive
from loadgen.health import client_health
from loadgen.pacer import PACERS
from loadgen.records import to_frame
from loadgen.schedule import offsets_ns, shard
from loadgen.workload import Prompt

INTERRUPTED = "interrupted"

#: The common t0 lies this far after every worker reported ready (spawned processes wake up).
START_MARGIN_NS = 50_000_000


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


Progress = Callable[[int, int], None]  # (requests done, requests total)


@dataclass
class RunSpec:
    base_url: str
    model: str
    prompts: list[Prompt]
    api: str = "completions"
    concurrency: int = 8
    request_rate: float = math.inf
    schedule: str | None = None  # a registered arrival process; None: from rate and burstiness
    burstiness: float = 1.0
    ramp_up_s: float = 0.0
    seed: int = 0
    warmup_prompts: list[Prompt] = field(default_factory=list)
    duration_s: float | None = None
    timeout_s: float = 600.0
    workers: int = 1
    extra_body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    tls_ca: str | None = None  # https: CA bundle (default: the system's)
    tls_verify: bool = True
    pacer: str | None = None  # loadgen.pacer.PACERS name; None = timerfd on Linux, else spin


@dataclass
class RunResult:
    frame: pd.DataFrame  # REQUEST_COLUMNS + extras, warm-up rows flagged warmup=True
    interrupted: bool  # sending stopped early (reason says why); the run is incomplete
    reason: str | None
    sigint: bool  # the stop was a signal (Ctrl-C, or SIGTERM: see ``signal``)
    health: dict[str, Any]
    wall_anchor: dict[str, int]  # wall_ns (time.time_ns) and perf_ns (perf_counter_ns) taken together
    t0_ns: int
    offsets_ns: list[int]
    connect_ms: list[float]
    signal: int | None = None  # the first signal that stopped the run (SIGINT or SIGTERM)


def _shares(spec: RunSpec, offsets: list[int]) -> list[Share]:
    n_workers = max(1, min(spec.workers, spec.concurrency, len(spec.prompts) or 1))
    parts = shard(len(spec.prompts), n_workers, rate=spec.request_rate, seed=spec.seed)
    shares = []
    for w in range(n_workers):
        conc = spec.concurrency // n_workers + (1 if w < spec.concurrency % n_workers else 0)
        shares.append(
            Share(
                base_url=spec.base_url, model=spec.model, api=spec.api, prompts=spec.prompts,
                indices=parts[w], offsets_ns=offsets, pacer=spec.pacer,
                concurrency=conc, warmup_prompts=spec.warmup_prompts[w::n_workers],
                duration_s=spec.duration_s, timeout_s=spec.timeout_s,
                extra_body=spec.extra_body, headers=spec.headers, worker=w,
                tls_ca=spec.tls_ca, tls_verify=spec.tls_verify,
            )
        )
    return shares


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """No garbage-collector pause while requests are in flight.

    A full (generation-2) collection walks every object the process tracks: with pandas,
    pyarrow and the CLI loaded that is ~70 ms on this machine (measured: 66-71 ms for
    ``gc.collect()`` over 166k objects), and it stops the event loop wherever it strikes, so
    sends and arrival stamps would wait. Freezing moves everything allocated before the run out
    of the collector's reach; disabling it for the run leaves reference counting to free what
    the hot path drops (records are not cyclic), and the collector runs again after the run.
    """
    enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # e.g. Windows: the stdlib loop still works, just slower
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


@contextlib.contextmanager
def _sigint_sets(flag: threading.Event, sigint: threading.Event, caught: list[int]) -> Iterator[None]:
    """While driving, Ctrl-C or SIGTERM sets ``flag`` (stop sending, keep results) instead of
    raising; ``caught`` gets the first signal's number, so the caller can re-raise it after saving."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if not caught:
            caught.append(signum)
        sigint.set()
        flag.set()

    with signals_handled(handler):
        yield


@contextlib.contextmanager
def signals_handled(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM go to ``handler``, then the previous handlers are back.
    Only the main thread can set handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _run_single(spec: RunSpec, share: Share, progress: Progress | None, stop: threading.Event) -> ShareResult:
    total = len(share.indices)
    done = [0]
    last = [0]

    def on_done(k: int) -> None:
        done[0] += k
        if progress is not None:
            now = perf_counter_ns()
            if now - last[0] > 100_000_000 or done[0] == total:  # ≤ 10 updates/s off the hot path
                last[0] = now
                progress(done[0], total)

    def run_loop() -> ShareResult:
        with _no_gc_pauses(), asyncio.Runner(loop_factory=_new_loop) as runner:
            return runner.run(drive(share, should_stop=stop.is_set, on_done=on_done))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run_loop()
    # called from async code: drive on a private thread so we never nest event loops
    box: list[Any] = []
    t = threading.Thread(target=lambda: box.append(_capture(run_loop)), name="loadgen")
    t.start()
    t.join()
    result: ShareResult = _unwrap(box[0])
    return result


def _capture(fn: Callable[[], Any]) -> tuple[bool, Any]:
    try:
        return True, fn()
    except BaseException as exc:
        return False, exc


def _unwrap(item: tuple[bool, Any]) -> Any:
    ok, value = item
    if not ok:
        raise value
    return value


def _child(share: Share, pipe: Pipe, stop: Any, counter: Any) -> None:
    """Entry point of a worker process: drive one share, send back its records."""
    signal.signal(signal.SIGINT, lambda *_: stop.set())  # the parent decides; we just stop

    def start_at() -> int:
        pipe.send(("ready", None))
        _, t0 = pipe.recv()
        return int(t0)

    def on_done(k: int) -> None:
        counter.value += k

    try:
        with _no_gc_pauses(), asyncio.Runner(loop_factory=_new_loop) as runner:
            res = runner.run(drive(share, start_at=start_at, should_stop=stop.is_set, on_done=on_done))
        pipe.send(("result", res))
    except BaseException as exc:
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


def _run_workers(
    shares: list[Share], progress: Progress | None, stop: threading.Event, total: int
) -> list[ShareResult]:
    ctx = mp.get_context("spawn")  # a clean interpreter per worker: no inherited loop or threads
    mp_stop = ctx.Event()
    procs, pipes, counters = [], [], []
    for share in shares:
        parent, child = ctx.Pipe()
        counter = ctx.Value("q", 0, lock=False)
        p = ctx.Process(target=_child, args=(share, child, mp_stop, counter), daemon=True)
        p.start()
        child.close()
        procs.append(p)
        pipes.append(parent)
        counters.append(counter)
    results: list[ShareResult | None] = [None] * len(shares)
    errors: list[str] = []
    try:
        ready = 0
        pending = set(range(len(shares)))
        started = False
        while pending:
            if stop.is_set():
                mp_stop.set()
            for k in list(pending):
                if not pipes[k].poll(0.02):
                    if not procs[k].is_alive() and not pipes[k].poll(0):
                        errors.append(f"worker {k} died (exit code {procs[k].exitcode})")
                        pending.discard(k)
                    continue
                kind, value = pipes[k].recv()
                if kind == "ready":
                    ready += 1
                elif kind == "result":
                    results[k] = value
                    pending.discard(k)
                else:
                    errors.append(f"worker {k}: {value}")
                    pending.discard(k)
            if not started and (stop.is_set() or (ready == len(shares) - len(errors) and ready)):
                # (stopped before the start: release any worker waiting for t0; it stops at once)
                t0 = perf_counter_ns() + START_MARGIN_NS
                for k in range(len(shares)):
                    with contextlib.suppress(OSError):
                        pipes[k].send(("t0", t0))
                started = True
            if progress is not None:
                progress(sum(int(c.value) for c in counters), total)
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()
    done = [r for r in results if r is not None]
    if not done:
        raise ConnectionError("; ".join(errors) or "no worker returned results")
    if errors:  # keep what the other workers measured, and say the run is short
        done[0].stopped = done[0].stopped or "; ".join(errors)
    return done


@contextlib.contextmanager
def watch_stop(stop: StopFlag | None, flag: threading.Event) -> Iterator[None]:
    """While inside: an external stop flag (service, orchestrator) sets ``flag`` within 50 ms."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            if stop is not None and stop.is_set():
                flag.set()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def as_interrupted(reasons: list[str], sigint: threading.Event) -> list[str]:
    """A stop that came from a signal reads ``interrupted…`` (the caller re-raises it after saving)."""
    if not sigint.is_set():
        return reasons
    return [INTERRUPTED + r[len(STOPPED) :] if r.startswith(STOPPED) else r for r in reasons]


def run(spec: RunSpec, progress: Progress | None = None, stop: StopFlag | None = None) -> RunResult:
    """Drive ``spec`` to the end (or until stopped); every request is in ``result.frame``."""
    if not spec.prompts:
        raise ValueError("no prompts to send")
    if spec.pacer is not None:
        PACERS.get(spec.pacer)  # an unknown name fails here, listing the known ones
    offsets = offsets_ns(
        len(spec.prompts), spec.request_rate, burstiness=spec.burstiness, seed=spec.seed,
        ramp_up_s=spec.ramp_up_s, concurrency=spec.concurrency, name=spec.schedule,
    )
    shares = _shares(spec, offsets)
    flag = threading.Event()  # stop sending (Ctrl-C or the caller's stop flag)
    sigint = threading.Event()  # it was a signal: the caller re-raises it after saving
    caught: list[int] = []
    with watch_stop(stop, flag), _sigint_sets(flag, sigint, caught):
        if len(shares) == 1:
            parts = [_run_single(spec, shares[0], progress, flag)]
        else:
            parts = _run_workers(shares, progress, flag, len(spec.prompts))
    records = [r for part in parts for r in part.records]
    frame = to_frame(records)
    health = client_health(
        frame,
        [x for part in parts for x in part.loop_lag_ns],
        [part.cpu_s for part in parts],
        [part.wall_s for part in parts],
        open_loop=math.isfinite(spec.request_rate),
    )
    reasons = [part.stopped for part in parts if part.stopped]
    if flag.is_set() and not reasons:
        reasons = [STOPPED]
    reasons = as_interrupted(reasons, sigint)
    return RunResult(
        frame=frame,
        interrupted=bool(reasons),
        sigint=sigint.is_set(),
        reason="; ".join(dict.fromkeys(reasons)) or None,
        health=health,
        wall_anchor=parts[0].wall_anchor,
        t0_ns=min(part.t0_ns for part in parts),
        offsets_ns=offsets,
        connect_ms=[c for part in parts for c in part.connect_ms],
        signal=caught[0] if caught else None,
    )


__all__ = ["Progress", "RunResult", "RunSpec", "StopFlag", "run"]
