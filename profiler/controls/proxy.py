"""The positive control: a loopback proxy that adds a known cost to an OpenAI-compatible endpoint.

It forwards every byte unchanged, in both directions, and only delays what the server sends:
the response of each request is held back ``first_byte_ms`` before its first byte, and SSE event
i of the response (counted by its blank-line terminator) a further i × ``per_event_us``. So
TTFT grows by exactly ``first_byte_ms``, every inter-token gap by ``per_event_us``, and TPOT by
``per_event_us`` when each event carries one token. A profile with the proxy in front of one
leg must find that cost inside its CI; a setup that cannot see a +2% injected cost cannot see a
2% TEE cost either.

Timing: release instants are absolute CLOCK_MONOTONIC deadlines; a connection's sender thread
sleeps in the kernel until each (no spinning: the proxy must not take CPU from the server and
the client it sits between, or the control would measure that contention too). ``--log FILE``
records every forwarded piece (arrival, planned and actual release, in ns) so a test can check
the proxy adds what it claims.

    python -m profiler.controls.proxy --upstream http://127.0.0.1:8000 --per-event-us 800
    (prints ``listening on http://127.0.0.1:PORT`` once it accepts connections)
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import IO, Any
from urllib.parse import urlsplit

EVENT_END = b"\n\n"


@dataclass(frozen=True)
class Cost:
    first_byte_ms: float = 0.0
    per_event_us: float = 0.0

    def delay_ns(self, events_before: int) -> int:
        """Delay of a piece whose first event is SSE event number ``events_before`` (0-based): a
        piece carrying several events goes with its first one (the usage and [DONE] events often
        share a read with the last token; delaying by them would stretch the last gap)."""
        return round(self.first_byte_ms * 1e6 + max(0, events_before) * self.per_event_us * 1e3)

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


@dataclass
class _Response:
    """Where the response to the current request stands (shared by a connection's threads)."""

    events: int = 0
    tail: bytes = b""
    last_release: int = 0
    response: int = 0  # how many responses this connection has started
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_request(self) -> None:
        with self.lock:
            self.events, self.tail = 0, b""
            self.response += 1


@dataclass
class Proxy:
    upstream: tuple[str, int]
    cost: Cost
    log: IO[str] | None = None
    log_lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def handle(self, client: socket.socket) -> None:
        """One client connection: three threads, blocking sockets. Releases sleep in the kernel
        (nanosleep, tens of µs late at worst on an idle core) instead of spinning, so the proxy
        takes no CPU from the server and client it sits between."""
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        state = _Response()
        conn = next(self._ids)
        pending: queue.Queue[tuple[bytes, int, int, int, str] | None] = queue.Queue()
        threads = [
            threading.Thread(target=self._forward_requests, args=(client, upstream, state), daemon=True),
            threading.Thread(target=self._read_responses, args=(upstream, state, pending, conn), daemon=True),
            threading.Thread(target=self._release, args=(pending, client), daemon=True),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for s in (client, upstream):
            with contextlib.suppress(OSError):
                s.close()

    def _forward_requests(self, client: socket.socket, upstream: socket.socket, state: _Response) -> None:
        try:
            while data := client.recv(65536):
                state.new_request()  # the next bytes from the server start a new response
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_RDWR)

    def _read_responses(
        self, upstream: socket.socket, state: _Response, pending: queue.Queue[Any], conn: int
    ) -> None:
        """Stamp every piece as it arrives (never behind a held-back one) and plan its release."""
        try:
            while data := upstream.recv(65536):
                arrived = perf_counter_ns()
                with state.lock:
                    release = max(arrived + self.cost.delay_ns(state.events), state.last_release)
                    scan = state.tail + data
                    state.events += scan.count(EVENT_END)
                    state.tail = scan[-1:]
                    state.last_release = release
                    events = state.events
                    response = f"{conn}.{state.response}"
                pending.put((data, arrived, release, events, response))
        except OSError:
            pass
        finally:
            pending.put(None)

    def _release(self, pending: queue.Queue[Any], client: socket.socket) -> None:
        try:
            while (item := pending.get()) is not None:
                data, arrived, release, events, response = item
                left = release - perf_counter_ns()
                if left > 0:
                    time.sleep(left / 1e9)
                client.sendall(data)
                if self.log is not None:
                    line = json.dumps(
                        {
                            "response": response,
                            "arrived_ns": arrived,
                            "planned_ns": release,
                            "released_ns": perf_counter_ns(),
                            "events": events,
                            "bytes": len(data),
                        }
                    )
                    with self.log_lock:
                        self.log.write(line + "\n")
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)


def _target(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"the upstream must be an http:// URL, got {url!r}")
    return parts.hostname, parts.port or 80


def serve(upstream: str, cost: Cost, host: str, port: int, log_path: str | None) -> None:
    log = open(log_path, "a", buffering=1) if log_path else None  # noqa: SIM115 - lives as long as the server
    proxy = Proxy(_target(upstream), cost, log)
    listener = socket.create_server(
        (host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET, backlog=512
    )
    bound = listener.getsockname()
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    print(f"listening on http://{bound[0]}:{bound[1]} → {upstream} ({cost.describe()})", flush=True)
    try:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                break
            threading.Thread(target=proxy.handle, args=(conn,), daemon=True).start()
    finally:
        listener.close()
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
    serve(args.upstream, cost, host or "127.0.0.1", listen_port, args.log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
