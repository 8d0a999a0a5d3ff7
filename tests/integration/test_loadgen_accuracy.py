"""Timing accuracy against the ground-truth server's own log (same CLOCK_MONOTONIC, two processes).

For every request the server logged when it received the request and when it wrote each
event; the client logged when it wrote the request and when each event arrived. Causality must
hold exactly (sent < received < written ≤ stamped), and the client's errors must stay within
the stated tolerances. Tolerances are generous because up to 8 test suites share this 2-core
machine; scripts/bench_loadgen.py measures the real figures on pinned cores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from loadgen.runner import RunSpec, run
from loadgen.workload import DatasetArgs, build_prompts
from tests.support.servers import gt_log, gt_server

pytestmark = pytest.mark.integration

MS = 1e6
#: Stated tolerances (ms). Medians, because the machine this runs on is shared (load averages
#: of 10 on 2 cores were seen while writing this) and a descheduled process adds tens of ms to
#: single requests; pinned-core figures are printed by scripts/bench_loadgen.py instead.
#: The send gap (server handler start − client write) is mostly the Python server's own
#: parse/dispatch delay under load, hence its wider bound.
STAMP_MEDIAN_MS = 5.0
SEND_MEDIAN_MS = 10.0
ITL_MEDIAN_ABS_MS = 2.0


def _joined(frame: pd.DataFrame, log: dict[str, Any]) -> list[tuple[pd.Series, dict[str, Any]]]:
    by_id = {r["request_id"]: r for r in log["requests"]}
    rows = frame[~frame["warmup"]]
    return [(row, by_id[row["request_id"]]) for _, row in rows.iterrows()]


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_stamps_match_the_server_log(api: str) -> None:
    with gt_server("--ttft-ms", "30", "--itl-ms", "10") as url:
        prompts = build_prompts("random", DatasetArgs(num=48, input_len=16, output_len=12))
        warm = build_prompts("random", DatasetArgs(num=16, input_len=16, output_len=2, seed=7))
        result = run(RunSpec(url, "gt-model", prompts, api=api, concurrency=16, warmup_prompts=warm))
        log = gt_log(url)
    frame = result.frame
    assert frame["ok"].all(), frame["error"].dropna().tolist()
    assert len(frame) == 64 and int(frame["warmup"].sum()) == 16
    pairs = _joined(frame, log)
    stamp: list[float] = []
    send: list[float] = []
    ttft_err: list[float] = []
    itl_err: list[float] = []
    for row, srv in pairs:
        ev = srv["write_ns"]  # the server's send time of each event (stamped before the write)
        # one clock for both processes: the order of real events is exact
        assert row["sent_ns"] < srv["recv_ns"] < ev[0] <= row["first_ns"]
        assert ev[-1] <= row["last_ns"] <= row["end_ns"]
        assert row["n_events"] == len(ev) == row["output_tokens"] == 12
        stamp.append((row["first_ns"] - ev[0]) / MS)
        send.append((srv["recv_ns"] - row["sent_ns"]) / MS)
        ttft_err.append(row["ttft_ms"] - (ev[0] - srv["recv_ns"]) / MS)
        itl_err.extend(np.asarray(row["itl_ms"]) - np.diff(ev) / MS)
    stamp_a, send_a = np.array(stamp), np.array(send)
    assert np.median(stamp_a) < STAMP_MEDIAN_MS
    assert np.median(send_a) < SEND_MEDIAN_MS
    # TTFT error is exactly send gap + stamp error: nothing else hides in it
    assert np.allclose(np.array(ttft_err), send_a + stamp_a, atol=1e-6)
    assert np.median(np.abs(itl_err)) < ITL_MEDIAN_ABS_MS
    assert not result.interrupted


def test_rate_limited_schedule_is_followed() -> None:
    with gt_server("--ttft-ms", "5", "--itl-ms", "1") as url:
        prompts = build_prompts("random", DatasetArgs(num=30, input_len=8, output_len=3))
        result = run(RunSpec(url, "gt-model", prompts, concurrency=30, request_rate=40.0, seed=3))
    f = result.frame
    t0 = result.t0_ns
    # the arrival process, not the cap, paces the run: target = t0 + offset
    assert (f["target_ns"] - t0).tolist() == result.offsets_ns
    lag = (f["sent_ns"] - f["scheduled_ns"]) / MS
    assert (lag >= 0).all()  # never early
    assert np.median(lag) < 3.0
    assert result.health["send_lag_ms"]["mean"] == pytest.approx(lag.mean())


def test_worker_processes_merge_on_one_clock() -> None:
    with gt_server("--ttft-ms", "20", "--itl-ms", "3") as url:
        prompts = build_prompts("random", DatasetArgs(num=40, input_len=8, output_len=6))
        warm = build_prompts("random", DatasetArgs(num=8, input_len=8, output_len=2, seed=9))
        result = run(RunSpec(url, "gt-model", prompts, concurrency=8, warmup_prompts=warm, workers=2))
        log = gt_log(url)
    f = result.frame
    assert f["ok"].all()
    assert sorted(f.loc[~f["warmup"], "worker"].unique().tolist()) == [0, 1]
    assert result.health["workers"] == 2
    for row, srv in _joined(f, log):  # stamps from either process order against the server's
        assert row["sent_ns"] < srv["recv_ns"] < srv["write_ns"][0] <= row["first_ns"]
    # all shares started from the common t0
    assert (f.loc[~f["warmup"], "scheduled_ns"] >= result.t0_ns).all()
