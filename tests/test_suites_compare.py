"""Suite comparisons: overhead sign by direction, CIs over repetitions, guards — on hand-made runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from profiler.errors import UserError
from profiler.store import read_json, read_run, write_run
from profiler.suites.base import Rows, summarize_results
from profiler.suites.compare import compare_suite_dirs, compare_suite_runs, has_suite_runs, overhead_row


def _run(out: Path, label: str, values: dict[str, list[float]], kind: str = "cpu") -> Path:
    rows = Rows(kind)
    n = len(next(iter(values.values())))
    for r in range(n):
        rows.repeat = r
        if "rating" in values:
            rows.add("total_rating", values["rating"][r], unit="MIPS", direction="throughput",
                     case="threads=1", threads=1)
        if "lat" in values:
            rows.add("lat_avg", values["lat"][r], unit="us", direction="latency", case="job=x read")
    frame = rows.frame()
    return write_run(out, {"kind": kind, "label": label}, summary=summarize_results(frame),
                     tables={"results": frame})


def test_overhead_sign_follows_direction() -> None:
    thr = overhead_row(np.array([90.0, 90, 90]), np.array([100.0, 100, 100]), "throughput")
    lat = overhead_row(np.array([110.0, 110]), np.array([100.0, 100]), "latency")
    assert thr["overhead_pct"] == pytest.approx(10.0)  # 10 % less throughput: the TEE costs
    assert lat["overhead_pct"] == pytest.approx(10.0)  # 10 % more latency: the TEE costs
    assert thr["ci_low"] == pytest.approx(10.0) and thr["ci_high"] == pytest.approx(10.0)


def test_ci_excludes_zero_for_a_clear_effect_and_contains_it_for_noise(tmp_path: Path) -> None:
    on = _run(tmp_path / "on", "on",
              {"rating": [900, 905, 895, 902, 898], "lat": [100, 130, 90, 120, 95]})
    off = _run(tmp_path / "off", "off",
               {"rating": [1000, 1004, 996, 1001, 999], "lat": [110, 92, 125, 98, 105]})
    rows = {r["family"]: r for r in compare_suite_runs([read_run(on)], [read_run(off)])}
    rating, lat = rows["total_rating"], rows["lat_avg"]
    assert rating["metric"] == "total_rating [threads=1]" and rating["case"] == "threads=1"
    assert rating["overhead_pct"] == pytest.approx(10.0, abs=0.1)
    assert rating["significant"] and 9 < rating["ci_low"] < 10 < rating["ci_high"] < 11
    assert not lat["significant"] and lat["ci_low"] < 0 < lat["ci_high"]
    assert (rating["n_on"], rating["n_off"]) == (5, 5)


def test_single_repetition_has_no_ci(tmp_path: Path) -> None:
    on = _run(tmp_path / "on", "on", {"rating": [900]})
    off = _run(tmp_path / "off", "off", {"rating": [1000]})
    result = compare_suite_dirs(on, off, tmp_path / "cmp").model_dump()
    (row,) = result["metrics"]
    assert row["overhead_pct"] == pytest.approx(10.0)
    assert row["ci_low"] is None and row["ci_high"] is None and row["significant"] is None
    assert [w["code"] for w in result["warnings"]] == ["no_ci"]
    on_disk = read_json(tmp_path / "cmp" / "comparison.json")
    assert on_disk["kind"] == "comparison" and on_disk["subject"] == "cpu"
    assert on_disk["token_volume"] is None and on_disk["paper_compat"] is None  # no LLM padding
    assert on_disk["method"]["bootstrap"] == "repetitions"


def test_runs_of_a_folder_pool_as_repetitions(tmp_path: Path) -> None:
    for v in (900, 910):
        _run(tmp_path / "on", "on", {"rating": [v]})
    for v in (1000, 990):
        _run(tmp_path / "off", "off", {"rating": [v]})
    result = compare_suite_dirs(tmp_path / "on", tmp_path / "off", tmp_path / "cmp").model_dump()
    (row,) = result["metrics"]
    assert (row["n_on"], row["n_off"]) == (2, 2) and row["ci_low"] is not None


def test_guards(tmp_path: Path) -> None:
    cpu = _run(tmp_path / "a", "on", {"rating": [1.0]})
    zk = _run(tmp_path / "b", "off", {"rating": [1.0]}, kind="zk")
    with pytest.raises(UserError, match="different suites"):
        compare_suite_runs([read_run(cpu)], [read_run(zk)])
    with pytest.raises(UserError, match="neither a run directory"):
        compare_suite_dirs(tmp_path / "missing", cpu, tmp_path / "cmp")
    llm = write_run(tmp_path / "c", {"kind": "llm", "label": "off"})
    with pytest.raises(UserError, match="suite run"):
        compare_suite_dirs(cpu, llm, tmp_path / "cmp")


def test_has_suite_runs(tmp_path: Path) -> None:
    cpu = _run(tmp_path / "s", "on", {"rating": [1.0]})
    llm = write_run(tmp_path / "l", {"kind": "llm", "label": "off"})
    assert has_suite_runs([cpu]) and has_suite_runs([tmp_path / "s"]) and has_suite_runs([llm, cpu])
    assert not has_suite_runs([llm]) and not has_suite_runs([tmp_path / "l"])
