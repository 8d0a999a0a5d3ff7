"""Headline sentences and number formatting (pure functions, hand-made metric rows)."""

from __future__ import annotations

import pytest

from catalog.metrics import lookup
from profiler.report.text import ci, headline, metric_label, num, pct
from profiler.results.comparison import MetricRow


def row(metric: str, value: float | None, lo: float | None, hi: float | None) -> MetricRow:
    sig = None if lo is None or hi is None else not (lo <= 0 <= hi)
    found = lookup(metric)
    assert found is not None
    m, stat = found
    return MetricRow(metric=metric, family=m.name, stat=stat, direction=m.direction, unit=m.unit, on=1.0,
                     off=1.0, overhead_pct=value, ci_low=lo, ci_high=hi, significant=sig, n_on=10, n_off=10)


def test_headline_matches_the_issue_example() -> None:
    rows = [row("mean_ttft_ms", 3.8, 2.1, 5.4), row("mean_tpot_ms", 2.3, 1.0, 3.6)]
    text = headline("llama-3.1-8b", rows)
    assert text.startswith(
        "llama-3.1-8b: TEE adds 3.8% TTFT (95% CI 2.1–5.4%, significant) and 2.3% decode time"
    )


def test_headline_says_not_significant_and_keeps_negative_signs() -> None:
    rows = [row("mean_ttft_ms", -0.4, -1.9, 1.2), row("mean_itl_ms", 0.2, -0.5, 0.9)]
    text = headline(None, rows)
    assert "−0.4% TTFT (95% CI −1.9–1.2%, not significant)" in text
    assert "0.2% decode time" in text  # ITL stands in when TPOT is absent


def test_aa_headline_is_plainly_a_calibration() -> None:
    rows = [row("mean_ttft_ms", 0.3, -1.0, 1.5), row("mean_tpot_ms", -0.1, -0.6, 0.4)]
    text = headline("tiny", rows, aa=True)
    assert "A/A calibration" in text and "not a TEE measurement" in text
    assert "TEE adds" not in text


def test_headline_without_ci_says_so() -> None:
    text = headline("m", [row("mean_ttft_ms", 1.5, None, None), row("output_throughput", 0.5, None, None)])
    assert "1.5% TTFT (no confidence interval)" in text
    assert "output tokens/s" in text


def test_headline_with_nothing_to_say() -> None:
    assert "no overhead could be computed" in headline("m", [])


def test_labels_and_numbers() -> None:
    assert metric_label("p99_ttft_ms") == "p99 TTFT (ms)"
    assert metric_label("mean_e2el_ms") == "mean E2E latency (ms)"
    assert metric_label("output_throughput") == "output tokens/s (TPS)"
    assert num(1234.7) == "1,235"
    assert num(0.0123456) == "0.0123"
    assert num(None) == "—" and num(float("nan")) == "—"
    assert num(-2.5) == "−2.5"
    assert pct(3.14159) == "+3.1%" and pct(-0.5, 2) == "−0.50%"
    assert ci(-1.23, 4.56) == "−1.2–4.6%"
    assert ci(None, 1) == "no CI"


def test_ecdf_of_many_values_keeps_the_ends_and_the_shape() -> None:
    import numpy as np

    from profiler.report.plots_common import ecdf, thin

    values = np.random.default_rng(0).exponential(5.0, 1_000_000)
    x, y = ecdf(values, max_points=1000)
    assert x.size <= 1000
    assert x[0] == values.min() and x[-1] == values.max() and y[-1] == 1.0
    # each drawn point is exact: y is the fraction of values ≤ x
    for k in (10, 500, 990):
        assert y[k] == pytest.approx(np.mean(values <= x[k]), abs=1e-6)
    assert thin(10).tolist() == list(range(10))
    assert thin(50_000, 100).size == 100
