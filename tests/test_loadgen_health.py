"""The client-health gate's pacing verdict, on hand-made records."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from loadgen.health import PACING_P99_LIMIT_MS, SUMMARY_KEYS, client_health, pacing_lag_ms, summary_keys

MS = 1_000_000


def _frame(target: list[int], sent: list[int], scheduled: list[int] | None = None,
           connect: list[float] | None = None) -> pd.DataFrame:
    n = len(sent)
    return pd.DataFrame({
        "target_ns": target, "scheduled_ns": scheduled or target, "sent_ns": sent,
        "connect_ms": connect or [math.nan] * n, "warmup": [False] * n,
    })


def _late(lags_ms: list[float]) -> pd.DataFrame:
    target = [k * MS for k in range(len(lags_ms))]
    return _frame(target, [t + round(lag * MS) for t, lag in zip(target, lags_ms, strict=True)])


def test_punctual_open_loop_run_passes_and_reports_its_precision() -> None:
    h = client_health(_late([0.01] * 98 + [0.4, 0.5]), [50_000] * 100, [0.2], [1.0], open_loop=True)
    assert not h["client_bound"]
    assert h["pacing_lag_ms"]["p50"] == pytest.approx(0.01)
    assert h["pacing_lag_ms"]["p99"] < PACING_P99_LIMIT_MS
    assert "pacing lag" in h["message"] and h["limits"]["pacing_lag_p99_ms"] == PACING_P99_LIMIT_MS
    keys = summary_keys(h)
    assert keys["p50_pacing_lag_ms"] == pytest.approx(0.01) and keys["p99_pacing_lag_ms"] < 1.0
    assert keys["cap_waited_fraction"] == 0.0
    assert set(keys) <= set(SUMMARY_KEYS)  # summary.json accepts every key the gate writes


def test_late_tail_flags_an_open_loop_run_but_not_its_closed_loop_twin() -> None:
    # 3% of sends 2.5 ms late: mean 0.08 ms and p99 2.5 ms — only the pacing bound catches it
    lags = [0.005] * 97 + [2.5] * 3
    flagged = client_health(_late(lags), [50_000] * 100, [0.2], [1.0], open_loop=True)
    assert flagged["client_bound"]
    assert "p99 pacing lag 2.50 ms > 1 ms against the schedule" in flagged["message"]
    assert "concurrency cap" not in flagged["message"]
    closed = client_health(_late(lags), [50_000] * 100, [0.2], [1.0], open_loop=False)
    assert not closed["client_bound"]  # closed loop keeps its own limits (mean 1 ms, p99 10 ms)
    assert closed["pacing_lag_ms"]["p99"] is None and summary_keys(closed)["p99_pacing_lag_ms"] is None
    # the bound is a parameter
    loose = client_health(_late(lags), [50_000] * 100, [0.2], [1.0], open_loop=True, pacing_limit_ms=3.0)
    assert not loose["client_bound"]


def test_lag_is_against_the_target_not_the_slot_time() -> None:
    # every request waited 5 ms for a free connection: sent − scheduled is 0, sent − target 5 ms
    target = [k * MS for k in range(100)]
    sched = [t + 5 * MS for t in target]
    f = _frame(target, sched, sched)
    lag, capped = pacing_lag_ms(f)
    assert lag.tolist() == [5.0] * 100 and capped == 1.0
    h = client_health(f, [0], [0.1], [1.0], open_loop=True)
    assert h["send_lag_ms"]["p99"] == 0.0
    assert h["client_bound"] and "100% of requests waited for the concurrency cap" in h["message"]


def test_reconnects_do_not_count_as_pacing_lag() -> None:
    f = _frame([0, MS], [3 * MS, MS + 10_000], connect=[3.0, math.nan])
    lag, _ = pacing_lag_ms(f)
    assert lag.tolist() == pytest.approx([0.0, 0.01])
