"""net suite: plain-run statistics on hand-made integer timestamps, target tags, TLS share."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from loadgen.plain import PLAIN_COLUMNS, PlainSpec, plain_summary
from profiler.errors import UserError
from profiler.suites.net import ensure_open_files, target_tags, tls_share_pct

MS = 1_000_000


def _frame(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(PLAIN_COLUMNS))


def test_plain_summary_by_hand() -> None:
    # request_id, scheduled, worker, sent, conn_start, conn_end, headers, end, status, bytes, error
    f = _frame([
        # 10 ms, connect 3 ms; then 20 ms, connect 5 ms
        (0, 1000 * MS, 0, 1000 * MS, 1000 * MS, 1003 * MS, 1009 * MS, 1010 * MS, 200, 3, ""),
        (1, 1000 * MS, 1, 1000 * MS, 1000 * MS, 1005 * MS, 1019 * MS, 1020 * MS, 200, 3, ""),
        (2, 1004 * MS, 0, 1010 * MS, 0, 0, 1039 * MS, 1040 * MS, 200, 3, ""),  # 30 ms, reused, 6 ms late
        (3, 1020 * MS, 1, 1020 * MS, 0, 0, 1049 * MS, 1050 * MS, 500, 17, ""),  # HTTP error
        (4, 1040 * MS, 0, 1040 * MS, 0, 0, 0, 1100 * MS, 0, 0, "TimeoutError: "),  # exception
    ])
    s = plain_summary(f)
    assert (s["requests"], s["completed"], s["failed"]) == (5, 3, 2)
    assert s["error_rate_pct"] == pytest.approx(40.0)
    assert s["duration_s"] == pytest.approx(0.100)  # 1100 − 1000 ms
    assert s["qps"] == pytest.approx(30.0)  # 3 ok / 0.1 s
    assert s["mean_latency_ms"] == pytest.approx(20.0)
    assert s["max_latency_ms"] == pytest.approx(30.0)
    assert s["p50_latency_ms"] == pytest.approx(20.0)
    assert s["p99_latency_ms"] == pytest.approx(29.8)  # numpy linear interpolation
    assert s["connections_opened"] == 2
    assert s["max_connect_ms"] == pytest.approx(5.0)
    assert s["mean_connect_ms"] == pytest.approx(4.0)
    assert s["bytes"] == 26
    assert s["max_client_lag_ms"] == pytest.approx(6.0)
    assert s["mean_client_lag_ms"] == pytest.approx(1.2)


def test_plain_summary_empty_and_all_failed() -> None:
    assert plain_summary(_frame([]))["requests"] == 0
    s = plain_summary(_frame([(0, 0, 0, 0, 0, 0, 0, 5 * MS, 0, 0, "ConnectionRefusedError")]))
    assert s["completed"] == 0 and s["error_rate_pct"] == 100.0 and math.isnan(s["mean_latency_ms"])


def test_plain_spec_needs_an_end() -> None:
    with pytest.raises(ValueError):
        PlainSpec(url="http://127.0.0.1:1/", num_requests=None, duration_s=None)
    with pytest.raises(ValueError):
        PlainSpec(url="http://127.0.0.1:1/", concurrency=0)
    with pytest.raises(ValueError, match="needs num_requests"):
        PlainSpec(url="http://127.0.0.1:1/", rate=10.0, num_requests=None)
    with pytest.raises(ValueError):
        PlainSpec(url="http://127.0.0.1:1/", rate=0.0)


def test_target_tags() -> None:
    assert target_tags(["http://a/", "https://a/"]) == ["http", "https"]
    assert target_tags(["http://a/", "http://b/", "https://c/"]) == ["http1", "http2", "https"]


def test_tls_share() -> None:
    assert tls_share_pct(6.0, 8.0) == pytest.approx(25.0)
    assert tls_share_pct(8.0, 8.0) == 0.0


def test_open_file_limit_is_raised_or_explained() -> None:
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        ensure_open_files(64)  # always below any sane limit: no change, no error
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (soft, hard)
        if hard != resource.RLIM_INFINITY:
            with pytest.raises(UserError, match="hard limit"):
                ensure_open_files(hard + 1)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
