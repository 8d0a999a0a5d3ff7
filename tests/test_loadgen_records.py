"""SSE parsing after the fact and per-request rows, on hand-made bytes and integer stamps."""

from __future__ import annotations

import json
import math

import pytest

from loadgen.metrics import REQUEST_COLUMNS
from loadgen.records import EXTRA_COLUMNS, RawRecord, parse_stream, record_row, to_frame

MS = 1_000_000


def ev(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def tok(text: str) -> bytes:
    return ev({"choices": [{"index": 0, "text": text}]})


USAGE = ev({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
DONE = b"data: [DONE]\n\n"


def test_each_event_takes_the_stamp_of_the_piece_that_completed_it() -> None:
    a, b, c = tok(" a"), tok(" b"), tok(" c")
    # piece 1 holds event a and half of b; piece 2 completes b; piece 3 holds c, usage, done
    pieces = [a + b[:10], b[10:], c + USAGE + DONE]
    parsed = parse_stream(pieces, [100, 250, 400])
    assert parsed.content_ns == [100, 250, 400]
    assert parsed.completion_tokens == 3 and parsed.prompt_tokens == 7
    assert parsed.error is None


def test_comments_empty_text_and_done_are_not_content() -> None:
    body = b": keep-alive\n\n" + tok("") + tok(" x") + b": ping\n\n" + DONE
    parsed = parse_stream([body], [5])
    assert parsed.content_ns == [5]
    assert parsed.completion_tokens is None


def test_chat_deltas_count_role_only_delta_does_not() -> None:
    role = ev({"choices": [{"delta": {"role": "assistant"}}]})
    hi = ev({"choices": [{"delta": {"content": "hi"}}]})
    parsed = parse_stream([role, hi, hi], [1, 2, 3])
    assert parsed.content_ns == [2, 3]


def test_crlf_events_and_a_last_event_without_blank_line() -> None:
    body = b"data: " + json.dumps({"choices": [{"text": "a"}]}).encode() + b"\r\n\r\n"
    tail = b"data: " + json.dumps({"choices": [{"text": "b"}]}).encode()
    assert parse_stream([body, tail], [10, 20]).content_ns == [10, 20]


def test_error_event_and_garbage_are_errors() -> None:
    err = ev({"error": {"message": "boom", "code": 500}})
    assert parse_stream([tok("a"), err], [1, 2]).error == "server error event: boom"
    garbage = parse_stream([tok("a"), b"data: {not json\n\n"], [1, 2])
    assert garbage.error is not None and garbage.error.startswith("malformed SSE event")
    assert garbage.content_ns == [1]


def _rec(**kw: object) -> RawRecord:
    rec = RawRecord(index=0, request_id="r0", prompt_hash="h", input_tokens=5, max_tokens=3)
    for k, v in kw.items():
        setattr(rec, k, v)
    return rec


def test_row_metrics_from_stamps() -> None:
    rec = _rec(
        scheduled_ns=900, sent_ns=1_000, headers_ns=1_000 + 2 * MS, end_ns=1_000 + 60 * MS, status=200,
        body=[tok("a"), tok("b"), tok("c") + USAGE + DONE],
        stamps=[1_000 + 20 * MS, 1_000 + 40 * MS, 1_000 + 59 * MS],
    )
    row = record_row(rec)
    assert row["ok"] and row["error"] is None
    assert row["ttft_ms"] == 20.0 and row["e2el_ms"] == 59.0
    assert row["itl_ms"] == [20.0, 19.0]
    assert row["tpot_ms"] == 19.5  # (59 − 20) / (3 − 1)
    assert row["headers_ms"] == 2.0
    assert row["input_tokens"] == 7 and row["output_tokens"] == 3  # usage wins over the prompt's count
    assert row["first_ns"] == 1_000 + 20 * MS and row["last_ns"] == 1_000 + 59 * MS
    assert math.isnan(row["connect_ms"]) and not row["new_connection"]


def test_http_error_row_carries_status_and_message() -> None:
    body = [b'{"error": {"message": "injected failure"}}']
    rec = _rec(sent_ns=1, end_ns=2, status=500, body=body, stamps=[2])
    row = record_row(rec)
    assert not row["ok"]
    assert row["error"] == "HTTP 500: injected failure"
    assert row["status"] == 500 and math.isnan(row["ttft_ms"])


def test_stream_without_content_is_a_failure() -> None:
    row = record_row(_rec(sent_ns=1, end_ns=2, status=200, body=[USAGE + DONE], stamps=[2]))
    assert not row["ok"] and row["error"] == "no content events in the stream"


def test_client_error_wins_and_partial_stream_is_kept() -> None:
    rec = _rec(sent_ns=0, end_ns=50, status=200, error="connection closed mid-stream",
               body=[tok("a"), tok("b")], stamps=[10, 30])
    row = record_row(rec)
    assert not row["ok"] and row["error"] == "connection closed mid-stream"
    assert row["n_events"] == 2 and row["output_tokens"] == 2


def test_frame_has_contract_columns_and_warmup_first() -> None:
    warm = _rec(warmup=True, status=200, sent_ns=1, end_ns=3, body=[tok("a")], stamps=[2])
    meas = _rec(status=200, sent_ns=5, end_ns=9, body=[tok("a")], stamps=[8])
    frame = to_frame([meas, warm])
    assert list(frame.columns) == list(REQUEST_COLUMNS) + list(EXTRA_COLUMNS)
    assert frame["warmup"].tolist() == [True, False]
    assert frame["sent_ns"].dtype == "int64" and frame["ok"].dtype == bool


@pytest.mark.parametrize("split", range(1, 40))
def test_any_split_point_gives_the_same_events(split: int) -> None:
    body = tok("a") + tok("b")
    parsed = parse_stream([body[:split], body[split:]], [1, 2])
    assert len(parsed.content_ns) == 2
    assert parsed.content_ns[-1] == 2


def test_a_row_is_ok_only_if_sent_answered_and_streamed() -> None:
    """A server killed mid-run left rows with no error, never sent or never answered: they
    must read as failures with a reason, never as completed requests."""
    never = record_row(_rec(sent_ns=0, end_ns=0, status=0))
    assert not never["ok"] and never["error"].startswith("never sent")
    silent = record_row(_rec(sent_ns=5, end_ns=9, status=0))
    assert not silent["ok"] and silent["error"].startswith("no response")
    odd = record_row(_rec(sent_ns=5, end_ns=9, status=204, body=[tok("a")], stamps=[7]))
    assert not odd["ok"] and odd["error"].startswith("HTTP 204")
    frame = to_frame([_rec(sent_ns=0, end_ns=0, status=0), _rec(sent_ns=1, end_ns=3, status=200,
                                                                  body=[tok("a"), DONE], stamps=[2, 3])])
    assert frame["ok"].tolist() == [False, True] and frame["error"].notna().tolist() == [True, False]
