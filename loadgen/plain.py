"""Plain-HTTP load mode (the net suite): GET/POST one URL from N concurrent workers.

A closed loop like ``wrk``: each of ``concurrency`` workers sends its next request as soon as
the previous one finished, until ``num_requests`` were sent or ``duration_s`` passed (both
bound the run). With a finite ``rate`` it is an open loop instead: request i is due at the
offset ``loadgen.schedule.offsets_ns`` gives it (Poisson, or gamma with ``burstiness``, seeded),
``concurrency`` caps the requests in flight, and ``scheduled_ns`` vs ``sent_ns`` records how late
each one left (client lag), so a slow gateway cannot hide queueing behind a closed loop.

Timing follows the streaming client's discipline (DESIGN §3, §8.1): only ``perf_counter_ns``
stamps and raw byte counts are taken in the loop; statistics happen after.

Per request we keep: sent (just before the request is handed to aiohttp), connect start/end
(aiohttp's connection-create trace hooks, which span TCP connect *and* the TLS handshake;
zero when a kept-alive connection was reused), headers received, body read, status, bytes.
With ``new_connections=True`` every request opens a connection (``Connection: close``), so
connect cost — TLS included — lands on every request, as in a gateway without keep-alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from loadgen.metrics import NS_PER_MS, NS_PER_S

PLAIN_COLUMNS: tuple[str, ...] = (
    "request_id",
    "scheduled_ns", "worker", "sent_ns", "connect_start_ns", "connect_end_ns",
    "headers_ns", "end_ns", "status", "bytes", "error",
)


@dataclass(frozen=True)
class PlainSpec:
    url: str
    concurrency: int = 8
    num_requests: int | None = 1000
    duration_s: float | None = 10.0
    method: str = "GET"
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 30.0
    new_connections: bool = False
    #: False = accept any certificate (self-signed test gateways); a path = that CA bundle.
    verify_tls: bool | str = True
    #: requests/s; inf = closed loop. A finite rate needs num_requests (the schedule's length).
    rate: float = math.inf
    burstiness: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not self.rate > 0:
            raise ValueError("rate must be > 0 (inf for a closed loop)")
        if math.isfinite(self.rate) and self.num_requests is None:
            raise ValueError("an open-loop (finite rate) run needs num_requests")
        if self.num_requests is None and self.duration_s is None:
            raise ValueError("a plain run needs num_requests or duration_s (or both) to end")


@dataclass
class PlainResult:
    frame: pd.DataFrame
    interrupted: bool
    #: time.time_ns() and perf_counter_ns() read together, to align with telemetry
    wall_anchor: dict[str, int]


def ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    if verify is True:
        return True
    if verify is False:
        return False
    return ssl.create_default_context(cafile=verify)


def _trace_config() -> Any:
    import aiohttp

    async def start(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
        ctx.trace_request_ctx[0] = time.perf_counter_ns()

    async def end(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
        ctx.trace_request_ctx[1] = time.perf_counter_ns()

    tc = aiohttp.TraceConfig()
    tc.on_connection_create_start.append(start)
    tc.on_connection_create_end.append(end)
    return tc


async def _drive(spec: PlainSpec, out: list[tuple[Any, ...]]) -> None:
    import aiohttp

    perf = time.perf_counter_ns
    limit = spec.num_requests if spec.num_requests is not None else math.inf
    deadline = perf() + int(spec.duration_s * NS_PER_S) if spec.duration_s is not None else math.inf
    state = {"next": 0}
    run_start = perf()  # reset just before the workers start
    offsets: list[int] | None = None
    if math.isfinite(spec.rate):
        from loadgen.schedule import offsets_ns

        assert spec.num_requests is not None  # checked by PlainSpec
        offsets = offsets_ns(spec.num_requests, spec.rate, burstiness=spec.burstiness, seed=spec.seed)
    connector = aiohttp.TCPConnector(
        limit=spec.concurrency, force_close=spec.new_connections, ssl=ssl_context(spec.verify_tls)
    )
    timeout = aiohttp.ClientTimeout(total=spec.timeout_s)
    headers = dict(spec.headers)

    async def worker(wid: int, session: aiohttp.ClientSession) -> None:
        while True:
            i = state["next"]
            if i >= limit or perf() >= deadline:
                return
            state["next"] = i + 1
            if offsets is not None:
                due = run_start + offsets[i]
                wait = due - perf()
                if wait > 0:
                    await asyncio.sleep(wait / NS_PER_S)
                if perf() >= deadline:
                    return
            else:
                due = 0
            stamps = [0, 0]
            sent = perf()
            scheduled = due or sent
            try:
                async with session.request(
                    spec.method, spec.url, data=spec.body, headers=headers, trace_request_ctx=stamps
                ) as resp:
                    hdr = perf()
                    data = await resp.read()
                    end = perf()
                    out.append((i, scheduled, wid, sent, stamps[0], stamps[1], hdr, end, resp.status,
                                len(data), ""))
            except Exception as exc:  # any failure is a measured outcome, not a crash
                why = f"{type(exc).__name__}: {exc}"[:200]
                out.append((i, scheduled, wid, sent, stamps[0], stamps[1], 0, perf(), 0, 0, why))

    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, trace_configs=[_trace_config()], auto_decompress=False
    ) as session:
        run_start = perf()
        await asyncio.gather(*(worker(w, session) for w in range(spec.concurrency)))


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


def run_plain(spec: PlainSpec) -> PlainResult:
    """Run the closed loop; Ctrl-C stops it and returns what was measured (``interrupted``)."""
    out: list[tuple[Any, ...]] = []
    anchor = {"wall_ns": time.time_ns(), "perf_ns": time.perf_counter_ns()}
    interrupted = False
    loop = _new_loop()
    task = loop.create_task(_drive(spec, out))
    try:
        loop.run_until_complete(task)
    except KeyboardInterrupt:
        interrupted = True
        task.cancel()  # closes the session and its sockets before the loop goes
        with contextlib.suppress(asyncio.CancelledError, Exception):
            loop.run_until_complete(task)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    frame = pd.DataFrame(out, columns=list(PLAIN_COLUMNS)).sort_values("request_id", ignore_index=True)
    return PlainResult(frame=frame, interrupted=interrupted, wall_anchor=anchor)


def plain_summary(frame: pd.DataFrame, percentiles: tuple[float, ...] = (50, 90, 99)) -> dict[str, Any]:
    """Pure: the seed's Table III figures from a plain-run frame (integer ns stamps).

    ok = HTTP 2xx/3xx with no exception. latency = end − sent (ok requests).
    duration = last end − first send; qps = ok requests / duration.
    connect = connect end − start for requests that opened a connection.
    """
    n = len(frame)
    if n == 0:
        return {"requests": 0, "completed": 0, "failed": 0, "error_rate_pct": math.nan,
                "duration_s": math.nan, "qps": math.nan}
    status = frame["status"].to_numpy()
    ok = (frame["error"].to_numpy() == "") & (status >= 200) & (status < 400)
    sent = frame["sent_ns"].to_numpy(dtype=np.int64)
    end = frame["end_ns"].to_numpy(dtype=np.int64)
    duration_s = float(end.max() - sent.min()) / NS_PER_S
    lat = (end[ok] - sent[ok]) / NS_PER_MS
    cs = frame["connect_start_ns"].to_numpy(dtype=np.int64)
    ce = frame["connect_end_ns"].to_numpy(dtype=np.int64)
    opened = (cs > 0) & (ce >= cs)
    conn = (ce[opened] - cs[opened]) / NS_PER_MS

    def stat(values: np.ndarray, fn: Any) -> float:
        return float(fn(values)) if values.size else math.nan

    summary: dict[str, Any] = {
        "requests": n,
        "completed": int(ok.sum()),
        "failed": int(n - ok.sum()),
        "error_rate_pct": 100.0 * float(n - ok.sum()) / n,
        "duration_s": duration_s,
        "qps": float(ok.sum()) / duration_s if duration_s > 0 else math.nan,
        "mean_latency_ms": stat(lat, np.mean),
        "max_latency_ms": stat(lat, np.max),
        "connections_opened": int(opened.sum()),
        "mean_connect_ms": stat(conn, np.mean),
        "max_connect_ms": stat(conn, np.max),
        "bytes": int(frame["bytes"].sum()),
    }
    lag = (sent - frame["scheduled_ns"].to_numpy(dtype=np.int64)) / NS_PER_MS
    summary["mean_client_lag_ms"] = stat(lag, np.mean)
    summary["max_client_lag_ms"] = stat(lag, np.max)
    for p in percentiles:
        summary[f"p{p:g}_latency_ms"] = float(np.percentile(lat, p)) if lat.size else math.nan
    return summary
