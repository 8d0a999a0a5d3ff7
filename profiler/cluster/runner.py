"""A run whose load workers are Ray actors on the nodes of a cluster: ``run_on_cluster(spec, options)``.

The same seeded schedule and the same shares as ``--workers N`` on one host
(:func:`loadgen.runner._shares`); only where the worker processes run differs. In order:

1. connect; place one 1-CPU actor per share (``--placement``) and ask each who and where it is;
2. measure each worker's clock offset (RTT-bounded, :mod:`profiler.cluster.clock`);
3. ``prepare``: every worker starts its load process, connects and warms up, then waits;
4. the common start: a driver wall-clock instant a margin ahead, sent to each worker in its own
   wall clock (plus its offset), which its load process turns into a monotonic t0;
5. ``result``: every record of each worker in one batch, moved onto the driver's monotonic
   clock, merged; a worker that does not answer is lost and its requests are failed rows.

Between 4 and 5 the driver only polls progress twice a second and watches the stop flag; no
Ray call is made per request.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from loadgen.dispatch import STOPPED
from loadgen.drive import Share, ShareResult
from loadgen.health import client_health
from loadgen.records import RawRecord, to_frame
from loadgen.runner import (
    Progress,
    RunResult,
    RunSpec,
    StopFlag,
    _shares,
    _sigint_sets,
    as_interrupted,
    watch_stop,
)
from loadgen.schedule import offsets_ns
from profiler import __version__
from profiler.cluster import clock, merge
from profiler.cluster.connect import alive_nodes, connect, first_line
from profiler.cluster.options import ClusterOptions
from profiler.cluster.placement import plan
from profiler.cluster.worker import remote_class
from profiler.errors import UserError
from profiler.results.cluster import ClusterNode, ClusterRun, ClusterWorker

#: The common start lies this far after the last worker was ready: the start messages reach
#: every actor first (one Ray call each, a few ms on a LAN).
START_MARGIN_NS = 250_000_000
#: Actors (a Python process each) must be up within this long.
ACTOR_START_S = 120.0
#: After a stop, a worker that has not returned its records within this long is written off.
STOP_GRACE_S = 30.0
POLL_S = 0.1
PROGRESS_EVERY_S = 0.5


@dataclass
class ClusterResult(RunResult):
    cluster: ClusterRun | None = None


def _get_all(ray: ModuleType, refs: list[Any], timeout_s: float, what: str) -> list[Any]:
    _ready, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    if pending:
        raise UserError(f"{len(pending)} of {len(refs)} Ray workers did not {what} within {timeout_s:g} s")
    return [ray.get(r) for r in refs]


@dataclass
class _Worker:
    share: Share
    actor: Any
    node: ClusterNode
    offset: clock.ClockOffset
    pid: int | None = None
    result: ShareResult | None = None
    lost: str | None = None
    error: str | None = None
    shift: int = 0


def _identify(ray: ModuleType, actors: Sequence[Any]) -> list[dict[str, Any]]:
    try:
        ids = _get_all(ray, [a.identity.remote() for a in actors], ACTOR_START_S, "start")
    except ray.exceptions.RayError as exc:
        raise UserError(f"a Ray worker failed to start: {first_line(exc)}") from None
    for info in ids:
        if info["version"] != __version__:
            raise UserError(
                f"node {info['node']['ip']} runs tee-llm-prof {info['version']}, this host {__version__}: "
                "install the same version on every node"
            )
    return ids


class _Driver:
    def __init__(
        self,
        ray: ModuleType,
        workers: list[_Worker],
        flag: threading.Event,
        progress: Progress | None,
        total: int,
    ) -> None:
        self.ray, self.workers, self.flag, self.progress, self.total = ray, workers, flag, progress, total
        self.stop_sent = False
        self.stop_at = math.inf
        self.last_progress = 0.0

    def _stop_all(self) -> None:
        if not self.stop_sent:
            self.stop_sent = True
            self.stop_at = time.monotonic()
            for w in self.workers:
                if w.lost is None:
                    w.actor.stop.remote()

    def _report_progress(self) -> None:
        now = time.monotonic()
        if self.progress is None or now - self.last_progress < PROGRESS_EVERY_S:
            return
        self.last_progress = now
        live = [w for w in self.workers if w.lost is None]
        refs = [w.actor.progress.remote() for w in live]
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=1.0)
        done = 0
        for ref in ready:
            with contextlib.suppress(self.ray.exceptions.RayError):
                done += int(self.ray.get(ref))
        self.progress(done, self.total)

    def wait(self, refs: dict[Any, _Worker], on_value: Callable[[_Worker, Any], None]) -> None:
        """Wait for one call per worker; a worker whose call raises is lost (with the reason)."""
        pending = dict(refs)
        while pending:
            if self.flag.is_set():
                self._stop_all()
            ready, _ = self.ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            for ref in ready:
                w = pending.pop(ref)
                try:
                    on_value(w, self.ray.get(ref))
                except self.ray.exceptions.RayError as exc:
                    w.lost = first_line(exc)
            if pending and time.monotonic() - self.stop_at > STOP_GRACE_S:
                for ref, w in pending.items():
                    w.lost = f"no records {STOP_GRACE_S:g} s after the stop"
                    self.ray.cancel(ref, force=True)
                return
            self._report_progress()


def _asker(ray: ModuleType, actor: Any) -> Callable[[], int]:
    """One round trip of the clock exchange: the worker's wall clock, in ns."""
    return lambda: int(ray.get(actor.wall_ns.remote()))


def run_on_cluster(
    spec: RunSpec, options: ClusterOptions, progress: Progress | None = None, stop: StopFlag | None = None
) -> ClusterResult:
    """Drive ``spec`` with its workers on the cluster; every request of the schedule is in the frame."""
    if not spec.prompts:
        raise ValueError("no prompts to send")
    ray = connect(options.address, options.namespace)
    offsets = offsets_ns(
        len(spec.prompts),
        spec.request_rate,
        burstiness=spec.burstiness,
        seed=spec.seed,
        ramp_up_s=spec.ramp_up_s,
        concurrency=spec.concurrency,
        name=spec.schedule,
    )
    shares = _shares(spec, offsets)
    placed = plan(ray, options.placement, alive_nodes(ray), len(shares))
    actors = [remote_class(ray).options(**o).remote() for o in placed.options]
    flag, sigint = threading.Event(), threading.Event()
    caught: list[int] = []
    try:
        ids = _identify(ray, actors)
        workers = [
            _Worker(
                share,
                actor,
                ClusterNode.model_validate(info["node"]),
                clock.exchange(_asker(ray, actor)),
            )
            for share, actor, info in zip(shares, actors, ids, strict=True)
        ]
        driver_wall, driver_perf = time.time_ns(), time.perf_counter_ns()
        driver = _Driver(ray, workers, flag, progress, len(spec.prompts))
        with watch_stop(stop, flag), _sigint_sets(flag, sigint, caught):
            _drive(ray, driver, workers)
    finally:
        for a in actors:
            ray.kill(a)
        placed.release(ray)
    return _merge(spec, options, offsets, workers, (driver_wall, driver_perf), flag, sigint, caught)


def _drive(ray: ModuleType, driver: _Driver, workers: list[_Worker]) -> None:
    def prepared(w: _Worker, value: dict[str, Any]) -> None:
        w.pid = value.get("pid")
        if not value.get("ready"):
            w.error = value.get("error") or "the load process did not warm up"

    driver.wait({w.actor.prepare.remote(w.share): w for w in workers}, prepared)
    t0_wall = time.time_ns() + START_MARGIN_NS
    for w in workers:
        if w.lost is None:
            w.actor.start.remote(t0_wall + w.offset.offset_ns)

    def returned(w: _Worker, value: ShareResult) -> None:
        w.result = value

    driver.wait({w.actor.result.remote(): w for w in workers if w.lost is None and w.error is None}, returned)


def _merge(
    spec: RunSpec,
    options: ClusterOptions,
    offsets: list[int],
    workers: list[_Worker],
    driver_anchor: tuple[int, int],
    flag: threading.Event,
    sigint: threading.Event,
    caught: list[int],
) -> ClusterResult:
    d_wall, d_perf = driver_anchor
    records: list[RawRecord] = []
    parts: dict[int, ShareResult] = {}
    reasons: list[str] = []
    where = {w.share.worker: w.node.ip for w in workers}
    for w in workers:
        k = w.share.worker
        if w.result is not None:
            a = w.result.wall_anchor
            w.shift = clock.shift_ns(a["wall_ns"], a["perf_ns"], w.offset.offset_ns, d_wall, d_perf)
            parts[k] = merge.shifted(w.result, w.shift)
            records.extend(w.result.records)
            stopped = w.result.stopped
            if stopped:  # the driver's own stop reads as a local run's; anything else names the worker
                reasons.append(
                    stopped if stopped.startswith(STOPPED) else f"worker {k} on {w.node.ip}: {stopped}"
                )
            continue
        if w.lost is not None or w.error is None:
            why = f"worker {k} on node {w.node.ip} lost mid-run: {w.lost or 'no records came back'}"
        else:  # it never started: the endpoint refused it, say, as it would a local run
            why = f"worker {k} on node {w.node.ip} failed: {w.error}"
        records.extend(merge.lost_records(w.share, why))
        reasons.append(f"{why} ({len(w.share.indices)} requests recorded failed)")
    if not parts and not any(w.lost for w in workers):  # none started: the endpoint, as a local run
        raise ConnectionError("; ".join(reasons) or "no worker returned results")
    frame = merge.with_node_column(to_frame(records), where)
    open_loop = math.isfinite(spec.request_rate)
    per_worker = {k: merge.worker_health(frame, p, k, open_loop=open_loop) for k, p in parts.items()}
    overall = client_health(
        frame,
        [x for p in parts.values() for x in p.loop_lag_ns],
        [p.cpu_s for p in parts.values()],
        [p.wall_s for p in parts.values()],
        open_loop=open_loop,
    )
    if flag.is_set() and not any(STOPPED in r for r in reasons):
        reasons.append(STOPPED)
    reasons = as_interrupted(reasons, sigint)
    info = ClusterRun(
        address=options.address,
        namespace=options.namespace,
        placement=str(options.placement),
        driver_host=socket.gethostname(),
        start_margin_ns=START_MARGIN_NS,
        workers=[
            ClusterWorker(
                worker=w.share.worker,
                node=w.node,
                pid=w.pid,
                requests=len(w.share.indices),
                clock_offset_ns=w.offset.offset_ns,
                clock_bound_ns=w.offset.bound_ns,
                clock_rtt_ns=w.offset.rtt_ns,
                clock_samples=w.offset.samples,
                shift_ns=w.shift,
                client_health=per_worker.get(w.share.worker),
                lost=w.lost if w.result is None else None,
                error=w.result.stopped if w.result is not None else w.error,
            )
            for w in workers
        ],
    )
    return ClusterResult(
        frame=frame,
        interrupted=bool(reasons),
        reason="; ".join(dict.fromkeys(reasons)) or None,
        sigint=sigint.is_set(),
        health=merge.combine_health(overall, per_worker, where),
        wall_anchor={"wall_ns": d_wall, "perf_ns": d_perf},
        t0_ns=min((p.t0_ns for p in parts.values()), default=d_perf),  # every worker lost: the driver's
        offsets_ns=offsets,
        connect_ms=[c for p in parts.values() for c in p.connect_ms],
        signal=caught[0] if caught else None,
        cluster=info,
    )
