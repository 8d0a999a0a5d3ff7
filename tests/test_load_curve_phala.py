"""The paper's raw data at two load points: one import per leg, one compare, the same numbers as
comparing each pair alone; and the summaries of all four models as load curves (no CI)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest

from profiler.cli import main
from profiler.report import build
from profiler.results.comparison import Comparison
from profiler.results.load_curve import LoadCurve
from profiler.store import list_runs, read_run
from tests.report_checks import check_figure, check_html, check_png
from tests.report_data import PHALA
from tests.support.servers import ROOT

FILE = "{leg}_24cores_serving_llama70B_qps_{rate}.json.gz"
needs_data = pytest.mark.skipif(
    not (PHALA / FILE.format(leg="tee", rate="inf")).is_file(), reason=f"paper data not found at {PHALA}"
)
BOOT = ["--n-boot", "300", "--seed", "1", "--no-report"]


def _validate(path: Path) -> None:
    schema = json.loads((ROOT / "docs/schema/load-curve.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(path.read_text()))


@pytest.mark.slow
@needs_data
def test_one_import_per_leg_and_one_compare_give_each_pairs_own_comparison(tmp_path: Path) -> None:
    for leg, label in (("tee", "on"), ("base", "off")):
        files = [str(PHALA / FILE.format(leg=leg, rate=r)) for r in ("1", "inf")]
        assert main(["import", "vllm-bench", *files, "--label", label, "--out", str(tmp_path / label)]) == 0
    runs = {
        label: {read_run(p).manifest.request_rate: p for p in list_runs(tmp_path / label)}
        for label in ("on", "off")
    }
    assert all(set(r) == {1.0, math.inf} for r in runs.values())

    assert (
        main(["compare", str(tmp_path / "on"), str(tmp_path / "off"), "--out", str(tmp_path / "cmp"), *BOOT])
        == 0
    )
    curve = LoadCurve.load(tmp_path / "cmp")
    _validate(tmp_path / "cmp" / "load_curve.json")
    assert [p.name for p in curve.points] == ["rate=1", "rate=inf"] and curve.unpaired == []
    assert curve.points[0].request_rate == 1.0 and math.isinf(curve.points[1].request_rate or 0)

    for point, rate in zip(curve.points, (1.0, math.inf), strict=True):
        alone_dir = tmp_path / f"alone-{rate}"
        assert (
            main(["compare", str(runs["on"][rate]), str(runs["off"][rate]), "--out", str(alone_dir), *BOOT])
            == 0
        )
        alone = Comparison.load(alone_dir)
        assert point.comparison is not None
        together = Comparison.load(tmp_path / "cmp" / point.comparison)
        assert together.method.bootstrap == alone.method.bootstrap == "paired"
        for row in alone.metrics:
            other = together.row(row.metric)
            assert other is not None
            for field in ("overhead_pct", "ci_low", "ci_high"):
                a, b = getattr(row, field), getattr(other, field)
                assert (a is None and b is None) or abs(a - b) < 0.01, (rate, row.metric, field)
            headline = point.row(row.metric)
            if row.stat in ("mean", "value"):  # the curve holds every headline row, as compared
                assert headline is not None and headline.overhead_pct == other.overhead_pct
        qps = alone.row("request_throughput")
        assert qps is not None and point.on.qps == qps.on and point.off.qps == qps.off

    # the figures at 1 req/s (24-core data): TTFT +0.66%, TPOT +1.29%, output tok/s −0.10%
    first = curve.points[0]
    rows = [first.row(k) for k in ("mean_ttft_ms", "mean_tpot_ms", "output_throughput")]
    assert [round(r.overhead_pct or 0, 2) if r else None for r in rows] == [0.66, 1.29, -0.10]
    q = curve.queueing
    assert q is not None and q.supported and not q.k_fitted  # one point below capacity per leg
    assert q.points[0].calibration and q.points[1].regime == "overloaded"
    assert q.crossing is not None and q.crossing.rate is not None
    assert 1.0 < q.crossing.rate < (q.legs["on"].capacity_qps or 0)


@needs_data
def test_the_benchmark_summaries_give_a_load_curve_per_model_without_ci(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tee, base = PHALA / "tee_24cores_benchmark_results.json", PHALA / "base_24cores_benchmark_results.json"
    assert main(["report", str(tee), str(base), "--out", str(tmp_path)]) == 0
    root = tmp_path / "load-curve"
    dirs = sorted(p.name for p in root.iterdir() if (p / "load_curve.json").is_file())
    assert dirs == ["Phi3-14B-128k", "gemma27b", "llama70B", "llama8B"]
    for d in dirs:  # each model's own view, and the overview, read as a reader would
        check_html(root / d / "report.html")
        for fig in build(root / d).figures():
            check_figure(fig.figure(), fig.name)
    check_html(root / "report.html")
    check_png(root / "plots" / "ttft_overhead_by_model.png")
    raw = {
        leg: {e["Test name"]: e for e in json.loads(p.read_text())} for leg, p in (("on", tee), ("off", base))
    }
    curve = LoadCurve.load(tmp_path / "load-curve" / "llama70B")
    _validate(tmp_path / "load-curve" / "llama70B" / "load_curve.json")
    assert [p.name for p in curve.points] == ["rate=1", "rate=4", "rate=16", "rate=inf"]
    assert curve.interval.startswith("none") and "no CI" in capsys.readouterr().out
    for p in curve.points:
        name = f"serving_llama70B_tp1_sharegpt_qps_{p.name.split('=')[1]}"
        on, off = raw["on"][name]["Mean TTFT (ms)"], raw["off"][name]["Mean TTFT (ms)"]
        row = p.row("mean_ttft_ms")
        assert (
            row is not None
            and row.ci_low is None
            and row.overhead_pct == pytest.approx(100 * (on - off) / off)
        )
    q = curve.queueing
    assert q is not None and q.supported
    # 4 and 16 req/s exceed the 70B's ~2.6 req/s capacity: no steady state, only the queue-growth ratio
    assert [p.regime for p in q.points] == ["stable", "overloaded", "overloaded", "overloaded"]
    assert (tmp_path / "load-curve" / "llama70B" / "report.md").is_file()
