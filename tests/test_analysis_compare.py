"""compare_runs on hand-made run directories: design choice, numbers, warnings, JSON, CLI."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from loadgen.metrics import duration_s, summarize
from profiler.analysis.compare import compare_runs as compare_model
from profiler.commands import compare as compare_cmd
from profiler.errors import UserError
from profiler.store import read_run, write_run
from tests.support import synthetic_runs as syn

ON = {"fixed_ms": 60.0, "per_in_ms": 0.1, "per_out_ms": 10.5}
OFF = {"fixed_ms": 50.0, "per_in_ms": 0.1, "per_out_ms": 10.0}


def compare_runs(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The comparison as comparison.json holds it (the typed model, dumped)."""
    return compare_model(*args, **kwargs).model_dump()


def _lengths(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(10, 500, n), rng.integers(5, 60, n)


def _run(tmp: Path, label: str, costs: dict, n: int = 200, seed: int = 0, **kw: Any) -> Path:
    inputs, outputs = _lengths(n)
    rng = np.random.default_rng(seed + (label == "on"))
    manifest = kw.pop("manifest", {})
    frame = syn.frame(inputs, outputs, noise_ms=rng.normal(0, 3, n), **costs, **kw)
    return syn.write(tmp, label, frame, **manifest)


def _metric(result: dict, name: str) -> dict:
    return next(m for m in result["metrics"] if m["metric"] == name)


def test_paired_comparison_finds_a_known_ttft_cost(tmp_path: Path) -> None:
    on, off = _run(tmp_path, "on", ON), _run(tmp_path, "off", OFF)
    result = compare_runs(on, off, tmp_path / "cmp", n_boot=500)
    assert result["method"]["bootstrap"] == "paired"
    ttft = _metric(result, "mean_ttft_ms")
    frame_on, frame_off = read_run(on).requests, read_run(off).requests
    truth = 100 * (frame_on["ttft_ms"].mean() / frame_off["ttft_ms"].mean() - 1)
    assert ttft["overhead_pct"] == pytest.approx(truth)
    assert ttft["significant"] and ttft["ci_low"] > 0
    assert ttft["on"] == pytest.approx(summarize(frame_on)["mean_ttft_ms"])
    # Point estimates use the same definitions as the run summary (vLLM names).
    s_on = summarize(frame_on)
    for key in ("p99_ttft_ms", "mean_itl_ms", "p90_itl_ms", "p50_tpot_ms", "p99_e2el_ms"):
        assert _metric(result, key)["on"] == pytest.approx(s_on[key]), key
    tpot = _metric(result, "mean_tpot_ms")
    assert tpot["overhead_pct"] == pytest.approx(5.0, abs=0.01)  # 10.5 vs 10 ms per token, exactly
    assert tpot["significant"]
    # Throughput: Σ tokens / duration (DESIGN §3); one run per leg gives it no CI, and says why.
    tps = _metric(result, "output_throughput")
    assert tps["on"] == pytest.approx(frame_on["output_tokens"].sum() / duration_s(frame_on), rel=1e-9)
    assert tps["ci_low"] is None and tps["significant"] is None
    assert tps["direction"] == "throughput"
    single = [w for w in result["warnings"] if w["code"] == "single_run"]
    assert single and "output_throughput" in single[0]["message"]
    assert json.loads((tmp_path / "cmp" / "comparison.json").read_text())["metrics"] == json.loads(
        json.dumps(result["metrics"])
    )


def test_same_seed_same_answer_and_schema(tmp_path: Path) -> None:
    on, off = _run(tmp_path, "on", ON), _run(tmp_path, "off", OFF)
    a = compare_runs(on, off, tmp_path / "a", n_boot=300, seed=4)
    b = compare_runs(on, off, tmp_path / "b", n_boot=300, seed=4)
    assert a["metrics"] == b["metrics"] and a["token_volume"] == b["token_volume"]
    top = "schema_version kind model aa created on_runs off_runs method metrics paper_compat token_volume"
    for key in [*top.split(), "warnings", "environment"]:
        assert key in a
    assert a["method"]["n_boot"] == 300 and a["method"]["confidence"] == 0.95
    names = [m["metric"] for m in a["metrics"]]
    for fam in ("ttft", "tpot", "itl", "e2el"):
        assert [f"{s}_{fam}_ms" for s in ("mean", "p50", "p90", "p99")] == [
            n for n in names if f"_{fam}_" in n
        ]
    assert "request_goodput" not in names  # no SLOs in the workload
    for m in a["metrics"]:
        assert set(m) >= {
            "metric",
            "family",
            "stat",
            "direction",
            "unit",
            "on",
            "off",
            "overhead_pct",
            "ci_low",
            "ci_high",
            "significant",
            "n_on",
            "n_off",
        }


def test_identical_legs_are_not_significant(tmp_path: Path) -> None:
    on = _run(tmp_path, "on", OFF, seed=3)
    result = compare_runs(on, on, tmp_path / "cmp", n_boot=300, aa=True)
    assert result["aa"] is True
    latency = [m for m in result["metrics"] if m["direction"] == "latency"]
    assert latency and all(m["significant"] is False for m in latency)
    assert all(m["significant"] is None for m in result["metrics"] if m["direction"] == "throughput")


def test_different_prompts_are_independent_and_warned(tmp_path: Path) -> None:
    on = _run(tmp_path, "on", ON)
    off = _run(tmp_path, "off", OFF, prompts=[f"q{i}" for i in range(200)])
    result = compare_runs(on, off, tmp_path / "cmp", n_boot=200)
    assert result["method"]["bootstrap"] == "independent"
    assert "prompts_differ" in {w["code"] for w in result["warnings"]}


def test_repetitions_use_run_level_intervals_and_goodput_with_slos(tmp_path: Path) -> None:
    slos = {"workload": {"slos": {"ttft": 100.0}}}
    ons = [_run(tmp_path / "on", "on", ON, seed=s, manifest=slos) for s in range(3)]
    offs = [_run(tmp_path / "off", "off", OFF, seed=s, manifest=slos) for s in range(3)]
    result = compare_runs(tmp_path / "on", tmp_path / "off", tmp_path / "cmp", n_boot=300)
    assert result["method"]["bootstrap"] == "repetitions"
    assert "Welch" in result["method"]["interval"] and "per-run" in result["method"]["throughput"]
    # 3 runs per leg, the same 10 ms fixed-cost difference each time: TTFT clearly significant.
    assert _metric(result, "mean_ttft_ms")["significant"] is True
    assert all(m["ci_low"] is not None for m in result["metrics"])
    assert not {"single_run", "prompts_differ"} & {w["code"] for w in result["warnings"]}
    qps = _metric(result, "request_throughput")
    assert qps["ci_low"] <= qps["overhead_pct"] <= qps["ci_high"]
    assert sorted(result["on_runs"]) == sorted(map(str, ons)) and len(result["off_runs"]) == len(offs)
    good = _metric(result, "request_goodput")
    assert good["direction"] == "throughput" and good["on"] is not None
    assert result["method"]["slos"] == {"ttft": 100.0}


def test_quality_warnings(tmp_path: Path) -> None:
    n = 60
    fail = np.zeros(n, dtype=bool)
    fail[:3] = True  # 5% errors
    asked = np.full(n, 200)  # max_tokens 200, outputs 5–60 → most far below
    health = {"client_health": {"client_bound": True, "message": "the CLIENT was the bottleneck (lag 80 ms)"}}
    on = _run(tmp_path, "on", ON, n=n, fail=fail, max_tokens=asked, manifest=health)
    off = _run(tmp_path, "off", OFF, n=n, max_tokens=asked)
    result = compare_runs(on, off, tmp_path / "cmp", n_boot=200)
    by_code: dict[str, list[dict]] = {}
    for w in result["warnings"]:
        by_code.setdefault(w["code"], []).append(w)
    assert [w["leg"] for w in by_code["error_rate"]] == ["on"]
    assert {w["leg"] for w in by_code["short_outputs"]} == {"on", "off"}
    assert any("p99_ttft_ms" in w["message"] for w in by_code["few_samples"])
    assert not any("p50" in w["message"] for w in by_code["few_samples"])
    assert "CLIENT was the bottleneck" in by_code["client_health"][0]["message"]
    assert [w["leg"] for w in by_code["client_health"]] == ["on"]


def test_client_lag_from_the_summary_is_flagged(tmp_path: Path) -> None:
    on, off = _run(tmp_path, "on", ON), _run(tmp_path, "off", OFF)
    run = read_run(on)
    summary = {**run.llm.model_dump(), "p99_client_lag_ms": 45.0}
    lagged = write_run(tmp_path / "lag", run.manifest.model_dump(), requests=run.requests, summary=summary)
    result = compare_runs(lagged, off, tmp_path / "cmp", n_boot=200)
    assert any(w["code"] == "client_health" and "45.0 ms" in w["message"] for w in result["warnings"])


def _args(**kw: Any) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    compare_cmd.add_arguments(p)
    argv = [str(kw.pop("on")), str(kw.pop("off")), "--out", str(kw.pop("out")), *kw.pop("extra", [])]
    return p.parse_args(argv)


def test_compare_command_prints_the_report_view_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    on, off = _run(tmp_path, "on", ON), _run(tmp_path, "off", OFF)
    assert compare_cmd.run(_args(on=on, off=off, out=tmp_path / "cmp", extra=["--n-boot", "200",
                                                                            "--no-report"])) == 0
    assert (tmp_path / "cmp" / "comparison.json").is_file()
    text = capsys.readouterr().out
    assert "TTFT" in text and "95% CI" in text and "Overhead against token volume" in text
    # the same view `tee-llm-prof report DIR --format console` draws
    from profiler.report import render

    render(tmp_path / "cmp", formats=("console",), console=Console(file=io.StringIO(), width=200))
    assert "TEE adds" in text
    with pytest.raises(UserError, match="not a run directory"):
        compare_cmd.run(_args(on=tmp_path / "nope", off=off, out=tmp_path / "c2"))
    with pytest.raises(UserError, match="n-boot"):
        compare_cmd.run(_args(on=on, off=off, out=tmp_path / "c3", extra=["--n-boot", "5"]))


def test_a_leg_where_everything_failed_gives_nulls_and_warnings_not_a_crash(tmp_path: Path) -> None:
    n = 40
    on = _run(tmp_path, "on", ON, n=n, fail=np.ones(n, dtype=bool))
    off = _run(tmp_path, "off", OFF, n=n)
    result = compare_runs(on, off, tmp_path / "cmp", n_boot=200, paper_compat=True)
    ttft = _metric(result, "mean_ttft_ms")
    assert ttft["on"] is None and ttft["overhead_pct"] is None and ttft["significant"] is None
    assert result["token_volume"]["fit"] is None
    assert result["paper_compat"]["on"]["samples"] == 0
    assert any(w["code"] == "error_rate" and w["leg"] == "on" for w in result["warnings"])
    json.loads((tmp_path / "cmp" / "comparison.json").read_text())  # still valid JSON (no NaN)
