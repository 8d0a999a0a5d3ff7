"""The metric functions of DESIGN §3 on hand-made integer timestamps."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from catalog.metrics import METRICS, request_values
from loadgen.metrics import (
    REQUEST_COLUMNS,
    duration_s,
    meets_slos,
    request_metrics,
    summarize,
)

MS = 1_000_000


def test_request_metrics_definitions() -> None:
    # sent at 0; content events at 50, 60, 75, 90 ms; 4 tokens
    m = request_metrics(0, [50 * MS, 60 * MS, 75 * MS, 90 * MS], 4)
    assert m.ttft_ms == 50.0
    assert m.e2el_ms == 90.0
    assert m.itl_ms == [10.0, 15.0, 15.0]
    assert m.tpot_ms == pytest.approx((90 - 50) / 3)


def test_tpot_uses_token_count_not_event_count() -> None:
    # two events carrying 5 tokens in all (a server that batches tokens into chunks)
    m = request_metrics(10 * MS, [30 * MS, 70 * MS], 5)
    assert m.tpot_ms == pytest.approx(40 / 4)
    assert m.itl_ms == [40.0]


def test_single_token_and_empty() -> None:
    one = request_metrics(0, [20 * MS], 1)
    assert one.ttft_ms == 20.0 and math.isnan(one.tpot_ms) and one.itl_ms == []
    none = request_metrics(0, [], 0)
    assert math.isnan(none.ttft_ms) and math.isnan(none.e2el_ms)


def _row(rid: int, sent: int, events: list[int], n: int, ok: bool = True, inp: int = 10) -> dict:
    m = request_metrics(sent, events, n)
    return {
        "request_id": rid, "scheduled_ns": sent - MS, "sent_ns": sent,
        "first_ns": events[0] if events else 0, "last_ns": events[-1] if events else 0,
        "end_ns": (events[-1] if events else sent) + MS, "connect_ms": math.nan,
        "ttft_ms": m.ttft_ms, "tpot_ms": m.tpot_ms, "e2el_ms": m.e2el_ms, "itl_ms": m.itl_ms,
        "input_tokens": inp, "output_tokens": n if ok else 0, "ok": ok, "error": "" if ok else "HTTP 500",
    }


@pytest.fixture()
def frame() -> pd.DataFrame:
    rows = [
        _row(0, 1000 * MS, [1050 * MS, 1060 * MS, 1070 * MS], 3),
        _row(1, 1010 * MS, [1040 * MS, 1050 * MS, 1080 * MS, 1090 * MS], 4),
        _row(2, 1020 * MS, [], 0, ok=False),
    ]
    df = pd.DataFrame(rows)
    assert set(REQUEST_COLUMNS) <= set(df.columns)
    return df


def test_duration_is_last_end_minus_first_send(frame: pd.DataFrame) -> None:
    assert duration_s(frame) == pytest.approx((1091 - 1000) / 1000)


def test_summary_matches_hand_computation(frame: pd.DataFrame) -> None:
    s = summarize(frame)
    dur = (1091 - 1000) / 1000
    assert s["completed"] == 2 and s["failed"] == 1
    assert s["total_output_tokens"] == 7 and s["total_input_tokens"] == 20
    assert s["request_throughput"] == pytest.approx(2 / dur)
    assert s["output_throughput"] == pytest.approx(7 / dur)
    assert s["total_token_throughput"] == pytest.approx(27 / dur)
    assert s["mean_ttft_ms"] == pytest.approx((50 + 30) / 2)
    assert s["median_e2el_ms"] == pytest.approx((70 + 80) / 2)
    # ITLs pooled over requests: [10, 10] and [10, 30, 10]
    assert s["mean_itl_ms"] == pytest.approx(70 / 5)
    assert s["p50_itl_ms"] == pytest.approx(10.0)
    assert s["p99_itl_ms"] == pytest.approx(np.percentile([10, 10, 10, 30, 10], 99))
    assert s["mean_tpot_ms"] == pytest.approx((20 / 2 + 50 / 3) / 2)
    assert s["mean_client_lag_ms"] == pytest.approx(1.0)
    assert "request_goodput" not in s


def test_goodput_counts_requests_meeting_every_slo(frame: pd.DataFrame) -> None:
    good = meets_slos(frame, {"ttft": 40})
    assert good.tolist() == [False, True, False]
    s = summarize(frame, slos={"ttft": 40, "e2el": 100})
    assert s["request_goodput"] == pytest.approx(1 / ((1091 - 1000) / 1000))
    with pytest.raises(ValueError, match="unknown SLO"):
        meets_slos(frame, {"latency": 1})


def test_warmup_rows_are_excluded(frame: pd.DataFrame) -> None:
    frame["warmup"] = [True, False, False]
    s = summarize(frame)
    assert s["completed"] == 1 and s["failed"] == 1
    pooled = request_values(METRICS.get("itl"), frame[~frame["warmup"]])
    assert pooled.tolist() == [10.0, 30.0, 10.0]


def test_empty_run_gives_nulls_not_crashes(frame: pd.DataFrame) -> None:
    failed = frame.assign(ok=False)
    s = summarize(failed)
    assert s["completed"] == 0 and s["mean_ttft_ms"] is None and s["p99_itl_ms"] is None


def test_steady_window_excludes_the_opening_wave_and_the_drain() -> None:
    from catalog.metrics import METRICS, steady_window, summarize_metrics

    rates = [METRICS.get(n) for n in ("tps_ss", "qps_ss", "tps")]

    # closed loop, 2 slots, each request 100 ms streaming 10 tokens: sends at 0,0,100,100,200,200
    rows = []
    for i in range(6):
        sent = (i // 2) * 100 * MS
        rows.append({"request_id": i, "scheduled_ns": sent, "sent_ns": sent, "first_ns": sent + 10 * MS,
                     "last_ns": sent + 100 * MS, "end_ns": sent + 100 * MS, "output_tokens": 10,
                     "input_tokens": 5, "ok": True})
    frame = pd.DataFrame(rows)
    assert steady_window(frame) == (100 * MS, 200 * MS)  # first completion → last send
    s = summarize_metrics(frame, 0.3, metrics=rates)
    # in [100, 200] ms: the second wave streams all its 20 tokens; the others overlap at the ends
    assert s["steady_output_throughput"] == pytest.approx(20 / 0.1)
    assert s["steady_request_throughput"] == pytest.approx(4 / 0.1)  # ends at 100 (×2) and 200 (×2)
    assert s["output_throughput"] == pytest.approx(60 / 0.3)
    one_wave = frame.iloc[:2]  # everything sent at once: no steady state to speak of
    assert steady_window(one_wave) is None
    assert summarize_metrics(one_wave, 0.1, metrics=rates)["steady_output_throughput"] is None
