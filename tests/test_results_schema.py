"""Typed result files: the committed JSON Schemas are current, real files validate against them,
corrupt files read as one line, and a metric declared once appears everywhere."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from catalog.metrics import METRICS, Metric
from profiler.analysis.compare import compare_runs
from profiler.config import WorkloadSpec
from profiler.experiment.engine import Experiment, RunTask
from profiler.experiment.legs import Leg
from profiler.experiment.profile import create_profile, profile_points
from profiler.report import render
from profiler.results import schema
from profiler.results.comparison import Comparison
from profiler.results.files import CorruptFile
from profiler.results.run import RunManifest, RunSummary
from profiler.store import read_run
from tests.report_data import make_run
from tests.support.servers import ROOT

SCHEMAS = ROOT / "docs" / "schema"


@pytest.mark.parametrize("name", list(schema.MODELS))
def test_committed_schema_is_current(name: str) -> None:
    committed = SCHEMAS / f"{name}.schema.json"
    assert committed.is_file(), f"run: python -m profiler.results.schema docs/schema ({committed} missing)"
    assert committed.read_text() == schema.render(name), "regenerate: python -m profiler.results.schema"


def _validate(name: str, path: Path) -> None:
    jsonschema.Draft202012Validator(json.loads((SCHEMAS / f"{name}.schema.json").read_text())).validate(
        json.loads(path.read_text())
    )


def test_real_files_validate_against_their_schemas(tmp_path: Path) -> None:
    legs = [Leg("on", "http://a", "m"), Leg("off", "http://b", "m")]
    wl = WorkloadSpec(request_rates=[math.inf], repeats=2, num_requests=60)
    writer = create_profile(tmp_path, "p", model="tiny-llama", legs=legs, workload=wl)

    def executor(task: RunTask) -> Path:
        return make_run(task.runs_dir, task.leg.name, ttft_ms=40 if task.leg.name == "on" else 30,
                        seed=task.block, experiment=task.experiment)

    Experiment(writer, legs, profile_points(wl), executor, blocks=2).run()
    point = writer.index.load_points[0]
    cmp = compare_runs(
        [writer.root / r for r in point.runs["on"]],
        [writer.root / r for r in point.runs["off"]],
        tmp_path / "cmp",
        paper_compat=True,
        n_boot=200,
    )
    _validate("profile", writer.root / "profile.json")
    _validate("comparison", tmp_path / "cmp" / "comparison.json")
    for rel in point.all_runs():
        _validate("manifest", writer.root / rel / "manifest.json")
        _validate("summary", writer.root / rel / "summary.json")
    # the paper view carries its own overheads: reports render them, never recompute them
    assert cmp.paper_compat is not None
    assert set(cmp.paper_compat.overheads) >= {"ttft", "itl", "tps", "tps_short", "tps_medium", "tps_long"}
    on, off = cmp.paper_compat.on.ttft_s, cmp.paper_compat.off.ttft_s
    assert on is not None and off is not None
    assert cmp.paper_compat.overheads["ttft"] == pytest.approx(100 * (on - off) / off)


def test_a_bad_key_in_a_file_is_refused_with_the_key(tmp_path: Path) -> None:
    run = make_run(tmp_path, "on")
    data = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**data, "lable": "on"}))
    with pytest.raises(CorruptFile, match="lable: unknown key"):
        RunManifest.load(run)


@pytest.mark.parametrize("text", ["", "[1, 2]", "null", "{not json", '{"schema_version": 99}'])
def test_corrupt_result_files_are_one_line_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "comparison.json"
    path.write_text(text)
    with pytest.raises(CorruptFile) as exc:
        Comparison.load(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_a_throwaway_metric_appears_in_summary_comparison_and_report(tmp_path: Path) -> None:
    """One declaration: a decode-time metric (E2EL − TTFT) registered here reaches summary.json,
    comparison.json and the Markdown report without any other edit."""

    def decode(frame: object) -> np.ndarray:
        import pandas as pd

        assert isinstance(frame, pd.DataFrame)
        values = (frame["e2el_ms"] - frame["ttft_ms"]).to_numpy(float)
        return np.where(frame["ok"].astype(bool).to_numpy(), values, np.nan)

    METRICS.add(
        "decodeprobe",
        Metric(
            "decodeprobe",
            "decode probe",
            "ms",
            "latency",
            "request",
            per_request=decode,
            overhead_stats=("mean", "p90"),
        ),
    )
    try:
        on = make_run(tmp_path / "runs", "on", itl_ms=10, seed=1)
        off = make_run(tmp_path / "runs", "off", itl_ms=8, seed=1)
        assert RunSummary.load(on).value("mean_decodeprobe_ms") is not None
        assert "p99_decodeprobe_ms" in json.loads((on / "summary.json").read_text())
        cmp = compare_runs(on, off, tmp_path / "cmp", n_boot=200)
        row = cmp.row("mean_decodeprobe_ms")
        assert row is not None and row.overhead_pct is not None and row.overhead_pct > 0
        assert cmp.row("p90_decodeprobe_ms") is not None and cmp.row("p99_decodeprobe_ms") is None
        render(tmp_path / "cmp", formats=("md",))
        assert "mean decode probe (ms)" in (tmp_path / "cmp" / "report.md").read_text()
        assert read_run(on).llm.get("mean_decodeprobe_ms") is not None
    finally:
        METRICS.remove("decodeprobe")
    assert "mean_decodeprobe_ms" not in schema.render("summary")
