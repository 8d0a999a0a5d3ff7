"""Prometheus text parser (pure), window deltas, and the scraper thread against a loopback server."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from profiler.telemetry.scrape import (
    MetricsScraper,
    counter_deltas,
    gauge_stats,
    histogram_deltas,
    keep,
    label_key,
    parse_prometheus,
)

FIXTURES = Path(__file__).parent / "fixtures"

TEXT = r'''# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="tiny"} 3.0
vllm:request_queue_time_seconds_bucket{engine="0",le="0.3",model_name="tiny"} 7.0
vllm:request_queue_time_seconds_bucket{engine="0",le="+Inf",model_name="tiny"} 9.0
vllm:request_queue_time_seconds_sum{engine="0",model_name="tiny"} 1.25 1700000000000
odd{path="a,b}c",quote="say \"hi\"\\",nl="x\ny"} NaN
plain_metric +Inf
'''


def test_parse_labels_values_and_escapes() -> None:
    s = parse_prometheus(TEXT)
    assert [x.name for x in s][:2] == ["vllm:num_requests_running", "vllm:request_queue_time_seconds_bucket"]
    assert s[0].labels == {"engine": "0", "model_name": "tiny"} and s[0].value == 3.0
    assert s[2].labels["le"] == "+Inf"
    assert s[3].value == 1.25  # the optional timestamp is not the value
    assert s[4].labels == {"path": "a,b}c", "quote": 'say "hi"\\', "nl": "x\ny"}
    assert math.isnan(s[4].value) and s[5].value == math.inf
    assert {x.name for x in keep(s)} == {
        "vllm:num_requests_running", "vllm:request_queue_time_seconds_bucket",
        "vllm:request_queue_time_seconds_sum"}
    assert label_key({"b": "2", "a": "1"}) == "a=1,b=2"


def test_bad_text_names_the_line() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_prometheus('ok 1\nbad{x="1" 2\n')
    with pytest.raises(ValueError, match="line 1: no value"):
        parse_prometheus("lonely\n")


def test_real_vllm_metrics_fixture_parses() -> None:
    path = FIXTURES / "vllm_metrics.txt"
    if not path.exists():
        pytest.skip("no real vLLM /metrics capture committed yet")
    samples = parse_prometheus(path.read_text())
    names = {s.name for s in keep(samples)}
    for h in ("request_queue_time_seconds", "request_prefill_time_seconds",
              "request_decode_time_seconds", "time_to_first_token_seconds"):
        assert f"vllm:{h}_count" in names
    assert "vllm:num_requests_running" in names and "vllm:kv_cache_usage_perc" in names


def frame(rows: list[tuple[int, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["t_ns", "name", "labels", "value"])


def test_window_deltas_by_hand() -> None:
    q, p = "vllm:request_queue_time_seconds", "vllm:request_prefill_time_seconds"
    f = frame([
        (100, f"{q}_count", "engine=0", 10), (100, f"{q}_sum", "engine=0", 1.0),
        (100, f"{q}_count", "engine=1", 5), (100, f"{q}_sum", "engine=1", 0.5),
        (100, f"{p}_count", "engine=0", 10), (100, f"{p}_sum", "engine=0", 2.0),
        (200, f"{q}_count", "engine=0", 14), (200, f"{q}_sum", "engine=0", 1.4),
        (200, f"{q}_count", "engine=1", 9), (200, f"{q}_sum", "engine=1", 1.3),
        (300, f"{p}_count", "engine=0", 20), (300, f"{p}_sum", "engine=0", 3.0),
        (100, "vllm:num_requests_running", "engine=0", 2), (100, "vllm:num_requests_running", "engine=1", 1),
        (200, "vllm:num_requests_running", "engine=0", 6), (200, "vllm:num_requests_running", "engine=1", 0),
        (100, "vllm:generation_tokens_total", "", 1000), (200, "vllm:generation_tokens_total", "", 1800),
    ])
    h = histogram_deltas(f, 100, 200)
    # queue: (4 + 4) requests, (0.4 + 0.8) s → 150 ms each; prefill has one scrape in the window
    assert h["request_queue_time_seconds"]["count"] == 8
    assert h["request_queue_time_seconds"]["mean_ms"] == pytest.approx(150.0)
    assert "request_prefill_time_seconds" not in h
    assert histogram_deltas(f)["request_prefill_time_seconds"]["mean_ms"] == pytest.approx(100.0)
    g = gauge_stats(f)["num_requests_running"]
    assert g == {"mean": 4.5, "max": 6.0, "scrapes": 2}
    assert counter_deltas(f) == {"generation_tokens_total": 800.0}


class _Metrics(BaseHTTPRequestHandler):
    """Ground truth for the scraper: every GET finishes one more request of 50 ms queue time."""

    served = 0

    def do_GET(self) -> None:
        type(self).served += 1
        n = type(self).served
        body = (f'vllm:request_queue_time_seconds_count{{model_name="m"}} {n}\n'
                f'vllm:request_queue_time_seconds_sum{{model_name="m"}} {0.05 * n}\n'
                f'vllm:num_requests_waiting{{model_name="m"}} {n % 2}\n'
                'other_metric 1\n').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def metrics_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def test_scraper_thread_against_loopback_server(metrics_url: str) -> None:
    s = MetricsScraper(metrics_url, interval_s=0.01)
    s.start()
    while s.scrapes < 4:
        s._halt.wait(0.01)
    s.stop()
    t = s.table()
    assert t is not None and "other_metric" not in set(t["name"])
    summary = s.summary()
    assert summary["errors"] == 0 and summary["scrapes"] >= 5  # the final scrape closes the window
    h = summary["histograms"]["request_queue_time_seconds"]
    assert h["count"] == summary["scrapes"] - 1
    assert h["mean_ms"] == pytest.approx(50.0)
    assert summary["cost"]["ticks"] >= 4


def test_scraper_survives_a_dead_endpoint() -> None:
    from tests.support.servers import free_port

    s = MetricsScraper(f"http://127.0.0.1:{free_port()}/metrics", interval_s=0.01, timeout_s=0.5)
    s.start()
    while s.errors < 2:
        s._halt.wait(0.01)
    s.stop()
    assert s.table() is None and s.summary()["last_error"]


def test_name_filter_gives_the_same_kept_samples() -> None:
    from profiler.telemetry.scrape import KEEP

    path = FIXTURES / "vllm_metrics.txt"
    text = path.read_text() if path.exists() else TEXT
    assert parse_prometheus(text, KEEP) == keep(parse_prometheus(text))
