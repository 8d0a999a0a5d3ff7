"""The ground-truth SSE server without aiohttp: raw HTTP/1.1 protocols on uvloop (``--fast``).

The aiohttp server (:mod:`tests.support.gt_server`) saturates its one core long before a load
generator does: at 512 streams × 100 events/s or at thousands of requests/s its event loop runs
behind, reads requests late, and its own log no longer says when the bytes arrived. This one
does per event only a timer callback, one byte-string format and one ``transport.write``, so it
keeps up with far heavier load on one core; it serves the same log format (``/_gt/log``) so the
same accuracy joins work:

- ``arrival_ns`` = ``recv_ns``: the ``data_received`` call that completed the request (stamped
  first thing; there is no separate handler to dispatch to);
- ``write_ns`` / ``event_ns``: just before / just after each event's ``transport.write``.

It also probes its own event-loop lag every 10 ms (``loop_lag_ns`` in the log): when that is
large, the server was the bottleneck, whatever the client did.

Supported: POST /v1/completions and /v1/chat/completions (streamed, one token per event, usage
at the end), GET /health, GET /_gt/log, POST /_gt/reset; ``--ttft-ms`` and ``--itl-ms`` only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from tests.support.gt_server import Options, RequestLog, probe_loop_lag

_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
_MAX_HEAD = 64 * 1024


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _plain(status: str, body: bytes, ctype: bytes = b"application/json") -> bytes:
    return (
        b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (status.encode(), ctype, len(body))
    ) + body


class Server:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.log: list[RequestLog] = []
        self.loop_lag_ns: list[int] = []
        self.count = 0

    def reset(self) -> None:
        self.log.clear()
        self.loop_lag_ns.clear()
        self.count = 0

    def log_json(self) -> bytes:
        return json.dumps(
            {"options": asdict(self.opts), "requests": [asdict(r) for r in self.log],
             "loop_lag_ns": self.loop_lag_ns}
        ).encode()

    async def probe(self) -> None:
        await probe_loop_lag(self.loop_lag_ns)


class Stream:
    """One streamed response: the events are timer callbacks on the server's loop."""

    def __init__(self, conn: Conn, entry: RequestLog, chat: bool, usage: bool) -> None:
        self.conn, self.entry, self.usage = conn, entry, usage
        # the template is %-formatted per event: a literal % in an id or name must be doubled
        rid = json.dumps(entry.request_id).replace("%", "%%")
        model = json.dumps(conn.server.opts.model).replace("%", "%%")
        if chat:
            obj = '"chat.completion.chunk"'
            choice = '{"index":0,"delta":{"content":" t%d"},"finish_reason":null}'
        else:
            obj = '"text_completion"'
            choice = '{"index":0,"text":" t%d","finish_reason":null,"logprobs":null}'
        self.template = (
            '{"id":' + rid + ',"object":' + obj + ',"model":' + model + ',"choices":[' + choice + "]}"
        ).encode()
        self.obj = "chat.completion.chunk" if chat else "text_completion"
        self.i = 0
        opts = conn.server.opts
        self.itl_s = opts.itl_ms / 1000
        self.deadline = asyncio.get_running_loop().time() + opts.ttft_ms / 1000

    def start(self) -> None:
        self.conn.transport.write(_HEAD)
        asyncio.get_running_loop().call_at(self.deadline, self.step)

    def step(self) -> None:
        conn, entry = self.conn, self.entry
        if conn.transport.is_closing():
            return
        data = _chunk(b"data: " + (self.template % self.i) + b"\n\n")
        entry.write_ns.append(time.perf_counter_ns())
        conn.transport.write(data)
        entry.event_ns.append(time.perf_counter_ns())
        self.i += 1
        if self.i < entry.max_tokens:
            self.deadline += self.itl_s
            asyncio.get_running_loop().call_at(self.deadline, self.step)
            return
        tail = b""
        if self.usage:
            n = len(entry.event_ns)
            usage = {"prompt_tokens": entry.prompt_tokens, "completion_tokens": n,
                     "total_tokens": entry.prompt_tokens + n}
            final = {"id": entry.request_id, "object": self.obj, "model": conn.server.opts.model,
                     "choices": [], "usage": usage}
            tail += _chunk(b"data: " + json.dumps(final).encode() + b"\n\n")
        conn.transport.write(tail + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        conn.busy = False
        conn.drain()


class Conn(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.buf = b""
        self.busy = False  # a response is streaming; pipelined requests wait in buf
        self.transport: asyncio.Transport = None  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        self.buf += data
        self.drain(now)

    def drain(self, now: int | None = None) -> None:
        while not self.busy:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > _MAX_HEAD:
                    self.transport.close()
                return
            lines = self.buf[:end].split(b"\r\n")
            fields = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                fields[name.strip().lower()] = value.strip()
            size = int(fields.get(b"content-length", b"0"))
            if len(self.buf) < end + 4 + size:
                return
            body = self.buf[end + 4 : end + 4 + size]
            self.buf = self.buf[end + 4 + size :]
            method, path = [*lines[0].split(b" "), b"", b""][:2]
            self.handle(now or time.perf_counter_ns(), method, path.decode("latin-1"), fields, body)

    def handle(self, now: int, method: bytes, path: str, fields: dict[bytes, bytes], body: bytes) -> None:
        srv = self.server
        if method == b"GET" and path == "/health":
            self.transport.write(_plain("200 OK", b""))
        elif method == b"GET" and path == "/_gt/log":
            self.transport.write(_plain("200 OK", srv.log_json()))
        elif method == b"POST" and path == "/_gt/reset":
            srv.reset()
            self.transport.write(_plain("200 OK", b'{"ok": true}'))
        elif method == b"POST" and path in ("/v1/completions", "/v1/chat/completions"):
            self.completions(now, path, fields, body)
        else:
            self.transport.write(_plain("404 Not Found", b'{"error": "not found"}'))

    def completions(self, now: int, path: str, fields: dict[bytes, bytes], raw: bytes) -> None:
        srv = self.server
        try:
            body: dict[str, Any] = json.loads(raw)
        except ValueError:
            self.transport.write(_plain("400 Bad Request", b'{"error": "bad json"}'))
            return
        srv.count += 1
        chat = path.endswith("/chat/completions")
        text = (" ".join(str(m.get("content", "")) for m in body["messages"]) if chat
                else str(body.get("prompt", "")))
        rid = fields.get(b"x-request-id", str(srv.count).encode()).decode("latin-1")
        max_tokens = int(body.get("max_tokens") or srv.opts.default_tokens)
        entry = RequestLog(rid, path, now, max(1, len(text.split())), max_tokens, arrival_ns=now)
        entry.start_ns = now
        srv.log.append(entry)
        self.busy = True
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        Stream(self, entry, chat, usage).start()


async def serve(opts: Options, host: str, port: int, on_ready: Callable[[], None] | None = None) -> None:
    server = Server(opts)
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: Conn(server), host, port, backlog=4096)
    probe = asyncio.ensure_future(server.probe())
    if on_ready is not None:
        on_ready()
    try:
        await srv.serve_forever()
    finally:
        probe.cancel()


def main(opts: Options, host: str, port: int) -> None:
    import uvloop

    uvloop.run(serve(opts, host, port))
