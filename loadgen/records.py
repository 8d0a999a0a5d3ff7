"""What the hot path records, and everything done with it after a request has ended.

A :class:`RawRecord` holds integer ``perf_counter_ns()`` stamps and the raw body bytes exactly
as they arrived (already de-chunked, one piece per ``data_received`` call). Nothing is parsed
while a request is in flight: :func:`parse_stream` splits the body into SSE events afterwards,
and gives each event the arrival stamp of the piece that completed it (DESIGN §3, §8.1).
:func:`to_frame` turns records into the ``requests.parquet`` table.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from loadgen.metrics import NS_PER_MS, REQUEST_COLUMNS, request_metrics

#: Extra columns the runner adds to ``REQUEST_COLUMNS``.
EXTRA_COLUMNS: tuple[str, ...] = (
    "end_ns",
    "target_ns",
    "headers_ms",
    "write_ms",
    "tls_ms",
    "new_connection",
    "retried",
    "status",
    "worker",
    "prompt_hash",
    "max_tokens",
    "n_events",
    "warmup",
)


@dataclass(slots=True)
class RawRecord:
    """One request as the client saw it. All ``*_ns`` are absolute ``perf_counter_ns()``.

    ``target_ns`` is when the arrival process wanted the request sent; ``scheduled_ns`` is
    ``max(target, the moment a concurrency slot was free)`` — the earliest the client could
    have sent it — so ``sent − scheduled`` is the client's own lateness, never the cap's queue.
    """

    index: int
    request_id: str
    prompt_hash: str
    input_tokens: int
    max_tokens: int
    warmup: bool = False
    worker: int = 0
    target_ns: int = 0
    scheduled_ns: int = 0
    sent_ns: int = 0
    written_ns: int = 0  # transport.write() returned
    connect_start_ns: int = 0  # 0 = the request reused an open connection
    connect_end_ns: int = 0
    tls_end_ns: int = 0  # 0 = no TLS handshake
    headers_ns: int = 0  # the response head (status line + headers) was complete
    end_ns: int = 0
    status: int = 0
    error: str | None = None
    retried: bool = False  # resent once: the reused connection closed before any response byte
    body: list[bytes] = field(default_factory=list)
    stamps: list[int] = field(default_factory=list)  # arrival stamp of each body piece


@dataclass
class ParsedStream:
    content_ns: list[int]
    completion_tokens: int | None
    prompt_tokens: int | None
    error: str | None


_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def _event_payload(raw: bytes) -> bytes | None:
    """The ``data:`` payload of one SSE event (joined lines), or None for comment-only events."""
    parts = []
    for line in raw.splitlines():
        if line.startswith(b"data:"):
            value = line[5:]
            parts.append(value[1:] if value.startswith(b" ") else value)
        # ":" comments, "event:", "id:", "retry:" carry no content
    return b"\n".join(parts) if parts else None


def _has_content(obj: dict[str, Any]) -> bool:
    for choice in obj.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        if choice.get("text"):
            return True
        delta = choice.get("delta") or {}
        if isinstance(delta, dict) and (delta.get("content") or delta.get("reasoning_content")):
            return True
    return False


def parse_stream(body: Sequence[bytes], stamps: Sequence[int]) -> ParsedStream:
    """Split a finished SSE body into events; stamp each with the piece that completed it."""
    data = b"".join(body)
    ends: list[int] = []  # cumulative end offset of each piece, for the stamp lookup
    total = 0
    for piece in body:
        total += len(piece)
        ends.append(total)

    def stamp_at(offset: int) -> int:
        return stamps[min(bisect_left(ends, offset + 1), len(stamps) - 1)]

    content: list[int] = []
    completion = prompt = None
    error = None
    start = 0
    spans: list[tuple[int, int]] = []
    for m in _EVENT_END.finditer(data):
        spans.append((start, m.end()))
        start = m.end()
    if data[start:].strip():
        spans.append((start, len(data)))  # a last event without its blank line still counts
    for lo, hi in spans:
        payload = _event_payload(data[lo:hi])
        if payload is None or payload.strip() == b"[DONE]":
            continue
        try:
            obj = json.loads(payload)
        except ValueError:
            error = error or f"malformed SSE event: {payload[:80]!r}"
            continue
        if not isinstance(obj, dict):
            error = error or f"malformed SSE event: {payload[:80]!r}"
            continue
        if obj.get("error"):
            err = obj["error"]
            msg = err.get("message", err) if isinstance(err, dict) else err
            error = error or f"server error event: {msg}"
            continue
        if _has_content(obj):
            content.append(stamp_at(hi - 1))
        usage = obj.get("usage")
        if isinstance(usage, dict):
            completion = usage.get("completion_tokens", completion)
            prompt = usage.get("prompt_tokens", prompt)
    return ParsedStream(content, completion, prompt, error)


def _error_text(body: Sequence[bytes]) -> str:
    text = b"".join(body)[:200].decode("utf-8", "replace").strip()
    try:
        obj = json.loads(text)
        err = obj.get("error", obj) if isinstance(obj, dict) else obj
        text = str(err.get("message", err)) if isinstance(err, dict) else str(err)
    except ValueError:
        pass
    return text


def record_row(rec: RawRecord) -> dict[str, Any]:
    """One requests.parquet row (REQUEST_COLUMNS + EXTRA_COLUMNS) from a finished record."""
    error = rec.error
    parsed = ParsedStream([], None, None, None)
    if rec.status == 200 and rec.body:
        parsed = parse_stream(rec.body, rec.stamps)
    elif rec.status and rec.status != 200 and error is None:
        error = f"HTTP {rec.status}: {_error_text(rec.body)}"
    if error is None and parsed.error:
        error = parsed.error
    if error is None and rec.status == 200 and not parsed.content_ns:
        error = "no content events in the stream"
    # The one place a row becomes ok: sent, a success status, content. Anything else says why.
    if error is None and not rec.sent_ns:
        error = "never sent: the run stopped before this request's turn"
    if error is None and rec.status != 200:
        error = f"HTTP {rec.status}" if rec.status else "no response: the connection ended before a status"
    n = parsed.completion_tokens if parsed.completion_tokens is not None else len(parsed.content_ns)
    m = request_metrics(rec.sent_ns, parsed.content_ns, n)
    first = parsed.content_ns[0] if parsed.content_ns else 0
    last = parsed.content_ns[-1] if parsed.content_ns else 0
    connect_ms = (
        (rec.connect_end_ns - rec.connect_start_ns) / NS_PER_MS
        if rec.connect_start_ns and rec.connect_end_ns
        else math.nan
    )
    headers_ms = (rec.headers_ns - rec.sent_ns) / NS_PER_MS if rec.headers_ns and rec.sent_ns else math.nan
    return {
        "request_id": rec.request_id,
        "scheduled_ns": rec.scheduled_ns,
        "sent_ns": rec.sent_ns,
        "first_ns": first,
        "last_ns": last,
        "connect_ms": connect_ms,
        "ttft_ms": m.ttft_ms,
        "tpot_ms": m.tpot_ms,
        "e2el_ms": m.e2el_ms,
        "itl_ms": m.itl_ms,
        "input_tokens": int(parsed.prompt_tokens) if parsed.prompt_tokens is not None else rec.input_tokens,
        "output_tokens": int(n),
        "ok": error is None,
        "error": error,
        "end_ns": rec.end_ns,
        "target_ns": rec.target_ns,
        "headers_ms": headers_ms,
        "write_ms": (rec.written_ns - rec.sent_ns) / NS_PER_MS if rec.written_ns else math.nan,
        "tls_ms": (rec.tls_end_ns - rec.connect_end_ns) / NS_PER_MS if rec.tls_end_ns else math.nan,
        "new_connection": bool(rec.connect_start_ns),
        "retried": rec.retried,
        "status": rec.status,
        "worker": rec.worker,
        "prompt_hash": rec.prompt_hash,
        "max_tokens": rec.max_tokens,
        "n_events": len(parsed.content_ns),
        "warmup": rec.warmup,
    }


def to_frame(records: Iterable[RawRecord]) -> pd.DataFrame:
    """The requests table, warm-up rows first, then measured rows in schedule order."""
    recs = sorted(records, key=lambda r: (not r.warmup, r.index))
    rows = [record_row(r) for r in recs]
    columns = list(REQUEST_COLUMNS) + list(EXTRA_COLUMNS)
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("scheduled_ns", "sent_ns", "first_ns", "last_ns", "end_ns", "target_ns"):
        frame[col] = frame[col].astype("int64")
    for col in ("input_tokens", "output_tokens", "status", "worker", "max_tokens", "n_events"):
        frame[col] = frame[col].astype("int64")
    frame["ok"] = frame["ok"].astype(bool)
    frame["warmup"] = frame["warmup"].astype(bool)
    frame["new_connection"] = frame["new_connection"].astype(bool)
    frame["retried"] = frame["retried"].astype(bool)
    frame["error"] = frame["error"].astype(object)
    return frame
