"""The streaming client: HTTP/1.1 keep-alive connections as raw asyncio protocols on uvloop.

Why not ``aiohttp.ClientSession.post`` on the hot path: it does per-request Python work between
the moment a request is due and the moment its bytes leave (request object, headers, a separate
body-writer task), and it hands chunks to a coroutine that only runs on a later loop turn —
both land inside TTFT/ITL. Here a request is one pre-built ``bytes`` written with one
``transport.write`` right after ``sent_ns`` is stamped, and every arrival is stamped first thing
in ``data_received``, before anything else runs. The hot path only de-chunks (to know where the
response ends) and appends ``(bytes, ns)``; SSE parsing happens after the request ends
(loadgen.records.parse_stream). Connection phases (TCP connect, TLS handshake, response head)
are stamped separately and never hidden in TTFT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any
from urllib.parse import urlsplit

from loadgen.records import RawRecord

API_PATHS: Mapping[str, str] = {"completions": "/v1/completions", "chat": "/v1/chat/completions"}

# parser states
_IDLE, _HEAD, _SIZE, _DATA, _CRLF, _TRAILER, _LENGTH, _EOF = range(8)
_MAX_HEAD = 64 * 1024
CLOSED_BEFORE_RESPONSE = "connection closed before a response"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool
    prefix: str  # path before /v1/..., usually ""

    @property
    def host_header(self) -> str:
        default = 443 if self.tls else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def parse_endpoint(url: str) -> Endpoint:
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint must be http(s)://HOST[:PORT], got {url!r}")
    tls = parts.scheme == "https"
    prefix = parts.path.rstrip("/")
    if prefix.endswith("/v1"):  # people paste the OpenAI base URL
        prefix = prefix[:-3]
    return Endpoint(parts.hostname, parts.port or (443 if tls else 80), tls, prefix)


def request_body(
    api: str, model: str, text: str, max_tokens: int, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """The OpenAI request (DESIGN §3): streamed, usage included, exact output length."""
    body: dict[str, Any] = {
        "model": model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "temperature": 0,
    }
    if api == "chat":
        body["messages"] = [{"role": "user", "content": text}]
    else:
        body["prompt"] = text
    body.update(extra)
    return body


def build_request(
    ep: Endpoint, api: str, body: Mapping[str, Any], request_id: str, headers: Mapping[str, str] | None = None
) -> bytes:
    """The complete HTTP/1.1 request as bytes, built before any clock starts."""
    if api not in API_PATHS:
        raise ValueError(f"unknown api {api!r}; known: {', '.join(API_PATHS)}")
    payload = json.dumps(body, separators=(",", ":")).encode()
    lines = [
        f"POST {ep.prefix}{API_PATHS[api]} HTTP/1.1",
        f"Host: {ep.host_header}",
        "Content-Type: application/json",
        "Accept: text/event-stream",
        f"Content-Length: {len(payload)}",
        f"X-Request-Id: {request_id}",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


#: Called once when a request's response ended or failed: (connection, record).
OnFinish = Callable[["Connection", RawRecord], None]


class Connection(asyncio.Protocol):
    """One keep-alive connection serving one request at a time; records, never parses SSE."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep_alive = True
        self.rec: RawRecord | None = None
        self.on_finish: OnFinish | None = None
        self.slot: Slot | None = None  # the concurrency slot that owns this connection
        self.served = 0  # requests started on this connection
        self.state = _IDLE
        self.buf = b""
        self.left = 0

    # --------------------------------------------------------------- asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # not a TCP socket (e.g. a test transport)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        now = perf_counter_ns()  # first thing: the arrival stamp
        if self.rec is None:
            self._close()  # bytes nobody asked for: this connection cannot be trusted
            return
        if self.state == _HEAD:
            self.buf += data
            while self.state == _HEAD:  # loops only past interim (1xx) heads
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > _MAX_HEAD:
                        self.finish(now, "response head too large")
                    return
                head, data = self.buf[:end], self.buf[end + 4 :]
                self.buf = data
                if not self._head(now, head):
                    return
            self.buf = b""
            if not data:
                return
        if self.state == _LENGTH:
            take = data[: self.left]
            self.rec.body.append(take)
            self.rec.stamps.append(now)
            self.left -= len(take)
            if self.left <= 0:
                self.finish(now)
        elif self.state == _EOF:
            self.rec.body.append(data)
            self.rec.stamps.append(now)
        elif self.state == _SIZE and not self.buf:
            # Fast path, the common case: this read is exactly one whole chunk ("<hex>\r\n" +
            # payload + "\r\n"), i.e. one SSE event. One find, one int, one slice.
            eol = data.find(b"\r\n", 0, 18)
            if eol > 0:
                try:
                    size = int(data[:eol], 16)
                except ValueError:
                    size = -1
                if size > 0 and len(data) == eol + size + 4 and data.endswith(b"\r\n"):
                    self.rec.body.append(data[eol + 2 : eol + 2 + size])
                    self.rec.stamps.append(now)
                    return
            self._chunked(now, data)
        else:
            self._chunked(now, data)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.rec is not None:
            now = perf_counter_ns()
            if self.state == _EOF:
                self.finish(now)
            elif self.state == _HEAD and not self.buf:
                self.finish(now, f"{CLOSED_BEFORE_RESPONSE}{_why(exc)}")
            else:
                self.finish(now, f"connection closed mid-stream{_why(exc)}")

    # --------------------------------------------------------------- requests
    def start(self, rec: RawRecord, data: bytes, on_finish: OnFinish) -> None:
        """Write the request now; ``on_finish`` runs when its response ends or fails."""
        self.rec, self.state, self.buf, self.left = rec, _HEAD, b"", 0
        self.on_finish = on_finish
        self.served += 1
        transport = self.transport
        assert transport is not None
        rec.sent_ns = perf_counter_ns()
        transport.write(data)
        rec.written_ns = perf_counter_ns()  # the bytes are in the kernel (or its buffer) now

    def send(self, rec: RawRecord, data: bytes) -> asyncio.Future[None]:
        """:meth:`start` for coroutines: the future resolves when the response ended."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def resolve(_conn: Connection, _rec: RawRecord) -> None:
            if not fut.done():
                fut.set_result(None)

        self.start(rec, data, resolve)
        return fut

    def finish(self, now: int, error: str | None = None) -> None:
        rec, cb = self.rec, self.on_finish
        if rec is None:
            return
        rec.end_ns = now
        if error and rec.error is None:
            rec.error = error
        # idle before the callback runs: it may start the next request on this very connection
        self.rec, self.state, self.on_finish = None, _IDLE, None
        if error or not self.keep_alive:
            self._close()
        if cb is not None:
            cb(self, rec)

    def expire(self, timeout_s: float) -> None:
        self.finish(perf_counter_ns(), f"timeout after {timeout_s:g} s")

    def abort(self, reason: str) -> None:
        self.finish(perf_counter_ns(), reason)

    # --------------------------------------------------------------- HTTP/1.1 framing
    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _head(self, now: int, head: bytes) -> bool:
        rec = self.rec
        assert rec is not None
        lines = head.split(b"\r\n")
        try:
            version, code = lines[0].split(b" ", 2)[:2]
            status = int(code)
        except ValueError:
            self.finish(now, f"malformed HTTP status line {lines[0][:60]!r}")
            return False
        if 100 <= status < 200:
            self.state = _HEAD  # an interim response; the real head follows
            return True
        rec.status, rec.headers_ns = status, now
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip().lower()
        conn = fields.get(b"connection", b"")
        self.keep_alive = conn != b"close" and (version == b"HTTP/1.1" or conn == b"keep-alive")
        if b"chunked" in fields.get(b"transfer-encoding", b""):
            self.state = _SIZE
        elif b"content-length" in fields:
            self.left = int(fields[b"content-length"])
            self.state = _LENGTH
            if self.left == 0:
                self.finish(now)
                return False
        elif status in (204, 304):
            self.finish(now)
            return False
        else:
            self.state, self.keep_alive = _EOF, False
        return True

    def _chunked(self, now: int, data: bytes) -> None:
        rec = self.rec
        assert rec is not None
        if self.buf:
            data, self.buf = self.buf + data, b""
        pos, n = 0, len(data)
        while pos < n:
            state = self.state
            if state == _DATA:
                end = min(pos + self.left, n)
                rec.body.append(data[pos:end])
                rec.stamps.append(now)
                self.left -= end - pos
                pos = end
                if self.left == 0:
                    self.state, self.left = _CRLF, 2
            elif state == _CRLF:
                take = min(self.left, n - pos)
                self.left -= take
                pos += take
                if self.left == 0:
                    self.state = _SIZE
            else:  # _SIZE or _TRAILER: a CRLF-terminated line
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    self.buf = data[pos:]
                    return
                line, pos = data[pos:eol], eol + 2
                if state == _TRAILER:
                    if not line:
                        self.finish(now)
                        return
                    continue
                try:
                    size = int(line.split(b";", 1)[0], 16)
                except ValueError:
                    self.finish(now, f"malformed chunk size {line[:20]!r}")
                    return
                if size == 0:
                    self.state = _TRAILER
                else:
                    self.state, self.left = _DATA, size


def _why(exc: Exception | None) -> str:
    return f" ({exc})" if exc else ""


def tls_context(ca_file: str | None = None, verify: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    if not verify:  # self-signed test deployments; the manifest records it
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Slot:
    """One unit of concurrency: a worker coroutine's persistent connection."""

    def __init__(self, ep: Endpoint, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ep = ep
        self.conn: Connection | None = None
        self.ssl_context = ssl_context or (ssl.create_default_context() if ep.tls else None)

    async def connect(self) -> tuple[int, int, int]:
        """Open a connection: (start, TCP connected, TLS done) stamps; OSError if refused."""
        loop = asyncio.get_running_loop()
        start = perf_counter_ns()
        transport, conn = await loop.create_connection(Connection, self.ep.host, self.ep.port)
        tcp = perf_counter_ns()
        tls = 0
        if self.ssl_context is not None:
            new = await loop.start_tls(transport, conn, self.ssl_context, server_hostname=self.ep.host)
            if new is None:
                raise OSError("TLS handshake failed")
            conn.transport = new
            tls = perf_counter_ns()
        conn.slot = self
        self.conn = conn
        return start, tcp, tls

    async def exchange(self, rec: RawRecord, data: bytes, timeout_s: float) -> None:
        """Send one request and wait for its response to end; every failure lands on ``rec``.

        A server may close an idle keep-alive connection just as we reuse it (uvicorn does after
        5 s). When a reused connection closes before a single response byte, nothing reached the
        application, so the request is sent once more on a fresh connection — ``retried`` says
        so, and its stamps are those of the second send."""
        reused = self.conn is not None and not self.conn.closed
        await self._exchange(rec, data, timeout_s)
        if reused and not rec.status and rec.error and rec.error.startswith(CLOSED_BEFORE_RESPONSE):
            rec.error, rec.end_ns, rec.headers_ns, rec.retried = None, 0, 0, True
            rec.body.clear()
            rec.stamps.clear()
            await self._exchange(rec, data, timeout_s)

    async def _exchange(self, rec: RawRecord, data: bytes, timeout_s: float) -> None:
        conn = self.conn
        if conn is None or conn.closed:
            try:
                rec.connect_start_ns, rec.connect_end_ns, rec.tls_end_ns = await self.connect()
            except (OSError, ssl.SSLError, asyncio.TimeoutError) as exc:
                rec.error = f"connect failed: {exc}"
                rec.end_ns = perf_counter_ns()
                self.conn = None
                return
            conn = self.conn
            assert conn is not None
        fut = conn.send(rec, data)
        timer = asyncio.get_running_loop().call_later(timeout_s, conn.expire, timeout_s)
        try:
            await fut
        finally:
            timer.cancel()
            if conn.rec is rec:  # cancelled (run stopped) before the response ended
                conn.abort("cancelled: the run was stopped")
        if conn.closed or not conn.keep_alive:
            self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn._close()
            self.conn = None
