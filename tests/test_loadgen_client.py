"""The client's HTTP/1.1 framing, fed real response bytes split at every possible boundary.

No network here: the protocol object gets the bytes a socket would deliver, and a transport
that only records what the protocol wrote or closed (the real socket path is covered by the
integration tests against the ground-truth server).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest

from loadgen.client import Connection, build_request, parse_endpoint, request_body
from loadgen.records import RawRecord, record_row


class Wire(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def sse(*texts: str) -> bytes:
    out = b""
    for t in texts:
        out += b"data: " + json.dumps({"choices": [{"text": t}]}).encode() + b"\n\n"
    return out + b"data: [DONE]\n\n"


def chunked(*parts: bytes) -> bytes:
    out = b""
    for p in parts:
        out += f"{len(p):x}\r\n".encode() + p + b"\r\n"
    return out + b"0\r\n\r\n"


HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def exchange(response: bytes, pieces: list[int] | None = None) -> tuple[RawRecord, Connection, Wire]:
    """Send one request on a fresh Connection and feed ``response`` cut at ``pieces``."""

    async def go() -> tuple[RawRecord, Connection, Wire]:
        conn, wire = Connection(), Wire()
        conn.connection_made(wire)
        rec = RawRecord(0, "r0", "h", 1, 2)
        fut = conn.send(rec, b"GET / HTTP/1.1\r\n\r\n")
        cuts = [0, *(pieces or []), len(response)]
        for a, b in itertools.pairwise(cuts):
            if b > a:
                conn.data_received(response[a:b])
        if not fut.done():
            conn.connection_lost(None)
        await fut
        return rec, conn, wire

    return asyncio.run(go())


def test_request_is_written_once_after_sent_stamp() -> None:
    rec, conn, wire = exchange(HEAD_CHUNKED + chunked(sse("a")))
    assert wire.written == [b"GET / HTTP/1.1\r\n\r\n"]
    assert 0 < rec.sent_ns <= rec.headers_ns <= rec.end_ns
    assert rec.status == 200 and rec.error is None
    assert conn.keep_alive and not wire.closed


def test_chunked_stream_split_at_every_byte_gives_the_same_body() -> None:
    body = sse(" a", " b", " c")
    response = HEAD_CHUNKED + chunked(body[:40], body[40:90], body[90:])
    for cut in range(1, len(response)):
        rec, _, _ = exchange(response, [cut])
        assert b"".join(rec.body) == body, cut
        assert rec.error is None and rec.end_ns > 0
        row = record_row(rec)
        assert row["ok"] and row["n_events"] == 3


def test_chunk_extensions_and_trailers() -> None:
    body = sse("x")
    response = HEAD_CHUNKED + f"{len(body):x};ext=1\r\n".encode() + body + b"\r\n0\r\nX-Trailer: 1\r\n\r\n"
    rec, conn, _ = exchange(response)
    assert b"".join(rec.body) == body and rec.error is None and conn.rec is None


def test_content_length_body_and_http_error() -> None:
    payload = b'{"error": {"message": "nope"}}'
    head = f"HTTP/1.1 500 Internal Server Error\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
    rec, conn, wire = exchange(head + payload, [len(head) + 3])
    assert rec.status == 500 and b"".join(rec.body) == payload
    assert record_row(rec)["error"] == "HTTP 500: nope"
    assert conn.keep_alive and not wire.closed  # a clean error response keeps the connection


def test_interim_100_continue_is_skipped() -> None:
    rec, _, _ = exchange(b"HTTP/1.1 100 Continue\r\n\r\n" + HEAD_CHUNKED + chunked(sse("a")))
    assert rec.status == 200 and record_row(rec)["ok"]


def test_eof_delimited_body_ends_at_close() -> None:
    head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    rec, conn, _ = exchange(head + sse("a", "b"))
    assert rec.error is None and record_row(rec)["n_events"] == 2
    assert not conn.keep_alive


def test_connection_closed_mid_stream_is_recorded() -> None:
    response = HEAD_CHUNKED + chunked(sse("a", "b"))
    rec, conn, _ = exchange(response[: len(response) - 30])
    assert rec.error is not None and rec.error.startswith("connection closed mid-stream")
    assert conn.closed


def test_connection_closed_before_any_response() -> None:
    rec, _, _ = exchange(b"")
    assert rec.error is not None and rec.error.startswith("connection closed before a response")


def test_malformed_status_line_and_chunk_size() -> None:
    rec, _, wire = exchange(b"garbage\r\n\r\n")
    assert rec.error is not None and "status line" in rec.error and wire.closed
    rec, _, _ = exchange(HEAD_CHUNKED + b"zz\r\nabc\r\n")
    assert rec.error is not None and "chunk size" in rec.error


def test_endpoint_parsing() -> None:
    ep = parse_endpoint("http://127.0.0.1:8000/v1")
    assert (ep.host, ep.port, ep.tls, ep.prefix) == ("127.0.0.1", 8000, False, "")
    assert parse_endpoint("https://h.example/api").port == 443
    assert parse_endpoint("localhost:9000").port == 9000
    with pytest.raises(ValueError, match="http"):
        parse_endpoint("ftp://x")


def test_request_bytes_follow_design_section_3() -> None:
    ep = parse_endpoint("http://127.0.0.1:8000")
    body = request_body("chat", "m", "hi", 16, {})
    raw = build_request(ep, "chat", body, "r7")
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8000")
    assert f"Content-Length: {len(payload)}".encode() in head and b"X-Request-Id: r7" in head
    sent = json.loads(payload)
    assert sent == {
        "model": "m", "stream": True, "stream_options": {"include_usage": True}, "max_tokens": 16,
        "ignore_eos": True, "temperature": 0, "messages": [{"role": "user", "content": "hi"}],
    }
    assert json.loads(build_request(ep, "completions", request_body("completions", "m", "p", 4, {}), "x")
                      .partition(b"\r\n\r\n")[2])["prompt"] == "p"
