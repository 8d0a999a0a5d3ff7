"""Nodes as a dimension of an LLM comparison: each client node's own means (pure, no Ray)."""

from __future__ import annotations

import pandas as pd
import pytest

from profiler.analysis.nodes import llm_node_rows
from profiler.results.comparison import MetricRow


def row(metric: str, off: float) -> MetricRow:
    return MetricRow(metric=metric, family="ttft", stat="mean", direction="latency", unit="ms", on=None,
                     off=off, overhead_pct=None, ci_low=None, ci_high=None, significant=None, n_on=0,
                     n_off=0)  # fmt: skip


def frame(nodes: list[str], ttft: list[float], ok: list[bool] | None = None) -> pd.DataFrame:
    n = len(nodes)
    return pd.DataFrame({"node": nodes, "ttft_ms": ttft, "tpot_ms": [1.0] * n, "e2el_ms": [9.0] * n,
                         "ok": ok if ok is not None else [True] * n})  # fmt: skip


def test_each_client_node_gets_its_own_mean_against_the_pooled_reference() -> None:
    on = frame(["a", "a", "b", "b", "b"], [10, 12, 30, 30, 999], ok=[True, True, True, True, False])
    off = frame(["a", "b"], [10, 10])
    rows = llm_node_rows(on, off, [row("mean_ttft_ms", 10.0), row("p99_ttft_ms", 10.0)])
    got = {(r.leg, r.node): r for r in rows}
    assert set(got) == {("on", "a"), ("on", "b"), ("off", "a"), ("off", "b")}  # p99 has no per-node row
    assert got[("on", "a")].value == pytest.approx(11) and got[("on", "a")].n == 2
    assert got[("on", "b")].value == pytest.approx(30) and got[("on", "b")].n == 2  # the failed one is out
    assert got[("on", "b")].vs_reference_pct == pytest.approx(200.0)  # (30 − 10)/10
    assert got[("off", "a")].vs_reference_pct == pytest.approx(0.0)


def test_one_node_per_leg_adds_nothing() -> None:
    assert llm_node_rows(frame(["a"], [1.0]), frame(["a"], [1.0]), [row("mean_ttft_ms", 1.0)]) == []
    assert llm_node_rows(frame(["a"], [1.0]).drop(columns="node"), frame(["b"], [1.0]).drop(columns="node"),
                         [row("mean_ttft_ms", 1.0)]) == []  # fmt: skip
