"""The positive control: a loopback proxy that adds a known cost to an OpenAI-compatible endpoint.

It forwards every byte unchanged, in both directions, and only delays what the server sends:
the response of each request is held back ``first_byte_ms`` before its first byte, and SSE event
i of the response (counted by its blank-line terminator) a further i × ``per_event_us``. So
TTFT grows by exactly ``first_byte_ms``, every inter-token gap by ``per_event_us``, and TPOT by
``per_event_us`` when each event carries one token. A profile with the proxy in front of one
leg must find that cost inside its CI; a setup that cannot see a +2% injected cost cannot see a
2% TEE cost either.

Timing: release instants are absolute CLOCK_MONOTONIC deadlines; the last millisecond before
each is spent yielding (uvloop timers run on a millisecond clock and may fire early), so
releases land within tens of µs on an idle core. ``--log FILE`` records every forwarded piece
(arrival, planned and actual release, in ns) so a test can check the proxy adds what it claims.

    python -m profiler.controls.proxy --upstream http://127.0.0.1:8000 --per-event-us 800
    (prints ``listening on http://127.0.0.1:PORT`` once it accepts connections)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import IO
from urllib.parse import urlsplit

EVENT_END = b"\n\n"


@dataclass(frozen=True)
class Cost:
    first_byte_ms: float = 0.0
    per_event_us: float = 0.0

    def delay_ns(self, events_done: int) -> int:
        """Delay of a piece whose last completed SSE event is number ``events_done - 1``."""
        return round(self.first_byte_ms * 1e6 + max(0, events_done - 1) * self.per_event_us * 1e3)

    def describe(self) -> str:
        return (
            f"+{self.first_byte_ms:g} ms before the first byte, +{self.per_event_us:g} µs per streamed event"
        )


def parse_cost(text: str) -> Cost:
    """``first_byte_ms=5,per_event_us=800`` → :class:`Cost` (ValueError naming the bad part)."""
    values: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if key not in ("first_byte_ms", "per_event_us") or not sep:
            raise ValueError(f"{part!r}: use first_byte_ms=MS and/or per_event_us=US")
        try:
            values[key] = float(value)
        except ValueError:
            raise ValueError(f"{part!r}: {value!r} is not a number") from None
        if values[key] < 0:
            raise ValueError(f"{part!r}: a cost cannot be negative")
    if not values:
        raise ValueError("give a cost: first_byte_ms=MS and/or per_event_us=US")
    return Cost(**values)


async def _until(deadline_ns: int) -> None:
    while (left := deadline_ns - perf_counter_ns()) > 0:
        await asyncio.sleep(left / 1e9 - 0.001 if left > 2_000_000 else 0)


@dataclass
class _Response:
    """Where the response to the current request stands."""

    events: int = 0
    tail: bytes = b""
    last_release: int = 0


@dataclass
class Proxy:
    upstream_host: str
    upstream_port: int
    cost: Cost
    log: IO[str] | None = None
    connections: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            u_reader, u_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        except OSError:
            c_writer.close()
            return
        state = _Response()
        up = asyncio.ensure_future(self._client_to_upstream(c_reader, u_writer, state))
        down = asyncio.ensure_future(self._upstream_to_client(u_reader, c_writer, state))
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for t in (up, down):
            t.cancel()
        for w in (c_writer, u_writer):
            with contextlib.suppress(OSError, RuntimeError):
                w.close()

    async def _client_to_upstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: _Response
    ) -> None:
        while data := await reader.read(65536):
            # a new request: the next bytes from the server start a new response
            state.events, state.tail = 0, b""
            writer.write(data)
            await writer.drain()

    async def _upstream_to_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: _Response
    ) -> None:
        """Stamp every piece as it arrives (never behind a held-back one), release it on time."""
        queue: asyncio.Queue[tuple[bytes, int, int, int] | None] = asyncio.Queue()
        sender = asyncio.ensure_future(self._release(queue, writer))
        try:
            while data := await reader.read(65536):
                arrived = perf_counter_ns()
                scan = state.tail + data
                state.events += scan.count(EVENT_END)
                state.tail = scan[-1:]
                release = max(arrived + self.cost.delay_ns(state.events), state.last_release)
                state.last_release = release
                queue.put_nowait((data, arrived, release, state.events))
            queue.put_nowait(None)
            await sender
        finally:
            sender.cancel()

    async def _release(
        self, queue: asyncio.Queue[tuple[bytes, int, int, int] | None], writer: asyncio.StreamWriter
    ) -> None:
        while (item := await queue.get()) is not None:
            data, arrived, release, events = item
            await _until(release)
            writer.write(data)
            actual = perf_counter_ns()
            if self.log is not None:
                self.log.write(
                    json.dumps(
                        {
                            "arrived_ns": arrived,
                            "planned_ns": release,
                            "released_ns": actual,
                            "events": events,
                            "bytes": len(data),
                        }
                    )
                    + "\n"
                )
            await writer.drain()


def _target(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"the upstream must be an http:// URL, got {url!r}")
    return parts.hostname, parts.port or 80


async def serve(upstream: str, cost: Cost, host: str, port: int, log_path: str | None) -> None:
    u_host, u_port = _target(upstream)
    log = open(log_path, "a", buffering=1) if log_path else None  # noqa: SIM115 - lives as long as the server
    proxy = Proxy(u_host, u_port, cost, log)
    server = await asyncio.start_server(proxy.handle, host, port)
    bound = server.sockets[0].getsockname()
    print(f"listening on http://{bound[0]}:{bound[1]} → {upstream} ({cost.describe()})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    if log is not None:
        log.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m profiler.controls.proxy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--upstream", required=True, help="the endpoint to put the cost in front of (http://HOST:PORT)"
    )
    ap.add_argument(
        "--listen", default="127.0.0.1:0", help="HOST:PORT to listen on (default a free loopback port)"
    )
    ap.add_argument(
        "--first-byte-ms", type=float, default=0.0, help="added before each response's first byte"
    )
    ap.add_argument(
        "--per-event-us", type=float, default=0.0, help="added per streamed SSE event (cumulative)"
    )
    ap.add_argument(
        "--log", default=None, help="JSON lines of every forwarded piece (for checking the proxy)"
    )
    args = ap.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    try:
        cost = Cost(args.first_byte_ms, args.per_event_us)
        if cost.first_byte_ms < 0 or cost.per_event_us < 0:
            raise ValueError("a cost cannot be negative")
        _target(args.upstream)
        listen_port = int(port)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(serve(args.upstream, cost, host or "127.0.0.1", listen_port, args.log))
    return 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # the stdlib loop works too, with coarser timers
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    sys.exit(main())
