"""Explain the LLM overhead: crossings × tolls against a measured TPOT overhead, synthetic inputs."""

from __future__ import annotations

import pytest

from profiler.analysis.gpu_explain import (
    MeasuredOverhead,
    StepCounts,
    Tolls,
    decode_step_rate,
    explain,
    measured_from_comparison,
    tolls_from_results,
    vllm_decode_counts,
)

COUNTS = StepCounts(h2d_copies=6, d2h_sync_copies=1, launches=20, graph_replays=1)
TOLLS = Tolls(h2d_copy_us=10.0, d2h_copy_us=40.0, launch_us=3.0, graph_replay_us=20.0)
PREDICTED_MS = (6 * 10 + 40 + 20 * 3 + 20) / 1e3  # 0.18 ms per step


def test_prediction_is_the_sum_of_counts_times_tolls() -> None:
    e = explain(COUNTS, TOLLS, MeasuredOverhead(0.2, 0.15, 0.25))
    assert e.predicted_ms == pytest.approx(PREDICTED_MS)
    assert [t.name for t in e.terms] == ["H2D copies", "D2H synchronous copies", "kernel launches",
                                         "CUDA-graph replays"]
    assert e.terms[0].ms == pytest.approx(0.06)
    assert e.verdict == "adds up" and e.share_explained == pytest.approx(0.9)
    assert "does not add up" not in e.sentence and "90%" in e.sentence and "+0.180 ms" in e.sentence


def test_below_the_ci_does_not_add_up() -> None:
    e = explain(COUNTS, TOLLS, MeasuredOverhead(1.0, 0.8, 1.2))
    assert e.verdict == "does not add up" and e.share_explained == pytest.approx(0.18)
    assert "does not add up" in e.sentence and "only 18%" in e.sentence


def test_above_the_ci_does_not_add_up() -> None:
    e = explain(COUNTS, TOLLS, MeasuredOverhead(0.05, 0.01, 0.09))
    assert e.verdict == "does not add up" and "predict more than was measured" in e.sentence


def test_no_measurement_or_no_ci_cannot_judge() -> None:
    assert explain(COUNTS, TOLLS, None).verdict == "cannot judge"
    e = explain(COUNTS, TOLLS, MeasuredOverhead(0.18))
    assert e.verdict == "cannot judge" and e.measured_ci_ms is None and "no CI" in e.sentence


def test_bytes_terms_and_the_on_minus_off_basis() -> None:
    counts = StepCounts(6, 1, 20, 1, h2d_bytes=1e6, d2h_bytes=0)
    on_only = Tolls(10, 40, 3, 20, h2d_gbps=5.0, basis="on only")
    e = explain(counts, on_only, MeasuredOverhead(0.5, 0.3, 0.7))
    (b,) = [t for t in e.terms if t.name == "H2D bytes"]
    assert b.toll_us == pytest.approx(200.0)  # 1 MB at 5 GB/s
    assert "upper bound" in e.sentence
    delta = Tolls(10, 40, 3, 20, h2d_gbps=5.0, h2d_gbps_off=20.0)
    (b,) = [t for t in explain(counts, delta, None).terms if t.name == "H2D bytes"]
    assert b.toll_us == pytest.approx(200.0 - 50.0)


def test_step_rate_and_share_of_time() -> None:
    assert decode_step_rate(3000.0, 30.0) == pytest.approx(100.0)
    assert decode_step_rate(0.0, 30.0) is None and decode_step_rate(10.0, 0.0) is None
    e = explain(COUNTS, TOLLS, None, steps_per_s=100.0, output_tokens_per_s=3000.0)
    assert e.tokens_per_step == pytest.approx(30.0)
    assert e.toll_share_of_time == pytest.approx(PREDICTED_MS * 100 / 1e3)


def test_vllm_estimate_is_labelled_an_estimate() -> None:
    graphed = vllm_decode_counts(32)
    eager = vllm_decode_counts(32, cuda_graphs=False, layers=32)
    assert graphed.graph_replays == 1 and eager.graph_replays == 0
    assert eager.launches > 10 * graphed.launches
    assert graphed.d2h_bytes == 32 * 8 and graphed.h2d_bytes > 0
    assert any("estimated, not counted" in a for a in graphed.assumptions)
    assert explain(graphed, TOLLS, None).assumptions == graphed.assumptions


def test_tolls_from_suite_rows_on_only_and_on_minus_off() -> None:
    def rows(scale: float) -> list[dict[str, object]]:
        base = {"h2d_pinned_pipelined_latency": 10.0, "d2h_pinned_sync_latency": 40.0,
                "launch_pipelined": 3.0, "graph_replay": 20.0, "h2d_pinned_pipelined_bandwidth": 5.0}
        out: list[dict[str, object]] = [{"metric": m, "value": v * scale} for m, v in base.items()]
        out.append({"metric": "launch_pipelined", "value": 5.0 * scale})  # a second repetition
        out.append({"metric": "graph_replay", "value": float("nan")})  # ignored
        return out

    on = tolls_from_results(rows(2.0))
    assert on.basis == "on only" and on.launch_us == pytest.approx(8.0) and on.graph_replay_us == 40.0
    assert on.h2d_gbps == 10.0 and on.d2h_gbps is None
    delta = tolls_from_results(rows(2.0), rows(1.0))
    assert delta.basis == "on - off" and delta.h2d_copy_us == pytest.approx(10.0)
    assert delta.launch_us == pytest.approx(4.0) and delta.h2d_gbps_off == 5.0
    with pytest.raises(ValueError, match="graph_replay"):
        tolls_from_results([r for r in rows(1.0) if r["metric"] != "graph_replay"])


def test_measured_from_a_comparison_row() -> None:
    m = measured_from_comparison({"on": 12.0, "off": 10.0, "overhead_pct": 20.0, "ci_low": 10.0,
                                  "ci_high": 30.0})
    assert (m.added_ms, m.ci_low_ms, m.ci_high_ms, m.off_ms) == pytest.approx((2.0, 1.0, 3.0, 10.0))
    assert measured_from_comparison({"on": 1.0, "off": 1.0, "ci_low": None}).ci_low_ms is None
