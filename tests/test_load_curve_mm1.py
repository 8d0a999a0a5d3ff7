"""Synthetic M/M/1 runs: the load curve recovers the known knee and crossing load.

Two legs share random numbers (tests/support/queue_runs.py): capacity μ_on = 9, μ_off = 10 req/s
(the TEE costs 10% of capacity), T0 = 50 ms each, exponential service (K = 1). Truth, from the
M/M/1 law: the TTFT overhead reaches 10% at λ* = 2.222 req/s; the knees (queueing delay = T0)
are at 2.793 (on) and 3.333 req/s (off).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest
from scipy.optimize import brentq

from profiler.analysis import load_curve as lc
from profiler.cli import main
from profiler.config import WorkloadSpec
from profiler.experiment.engine import Experiment, RunTask
from profiler.experiment.legs import Leg
from profiler.experiment.profile import compare_points, create_profile, profile_points
from profiler.report import build
from profiler.results.load_curve import LoadCurve
from tests.report_checks import check_figure
from tests.support.queue_runs import mm1_legs, mm1_run, true_ttft_s
from tests.support.servers import ROOT

MU = {"on": 9.0, "off": 10.0}
T0 = {"on": 0.05, "off": 0.05}
RATES = [2.0, 4.0, 6.0, 7.0]


def truth() -> tuple[float, dict[str, float]]:
    def over(x: float) -> float:
        return 100 * (true_ttft_s(x, MU["on"], T0["on"]) / true_ttft_s(x, MU["off"], T0["off"]) - 1) - 10

    crossing = float(brentq(over, 1e-3, MU["on"] - 1e-6))
    knees = {leg: T0[leg] * mu * mu / (1 + T0[leg] * mu) for leg, mu in MU.items()}
    return crossing, knees


def test_truth_is_what_the_docstring_says() -> None:
    crossing, knees = truth()
    assert round(crossing, 3) == 2.222 and round(knees["on"], 3) == 2.793 and round(knees["off"], 3) == 3.333


def test_runs_pinned_to_the_law_give_back_knee_and_crossing_within_1pct(tmp_path: Path) -> None:
    mm1_legs(tmp_path, RATES, MU, 1000, T0, exact=True)
    assert (
        main(
            [
                "compare",
                str(tmp_path / "on"),
                str(tmp_path / "off"),
                "--out",
                str(tmp_path / "cmp"),
                "--n-boot",
                "200",
                "--no-report",
            ]
        )
        == 0
    )
    curve = LoadCurve.load(tmp_path / "cmp")
    assert [p.name for p in curve.points] == ["rate=2", "rate=4", "rate=6", "rate=7", "rate=inf"]
    q = curve.queueing
    assert q is not None and q.supported and q.k_fitted
    crossing, knees = truth()
    assert q.k == pytest.approx(1.0, rel=0.01)
    assert q.crossing is not None and q.crossing.rate == pytest.approx(crossing, rel=0.01)
    for leg in ("on", "off"):
        assert q.legs[leg].capacity_qps == pytest.approx(MU[leg], rel=0.001)
        assert q.legs[leg].knee_rate == pytest.approx(knees[leg], rel=0.01)
    # each point's measured overhead is the comparison's own row, predicted agrees with it
    for qp, cp in zip(q.points[:-1], curve.points[:-1], strict=True):
        row = cp.row("mean_ttft_ms")
        assert row is not None and qp.measured_overhead_pct == row.overhead_pct
        assert qp.predicted_overhead_pct == pytest.approx(row.overhead_pct, abs=0.3)
        assert row.ci_low is not None  # per-request data: every point has its CI
    for fig in build(tmp_path / "cmp").figures():
        check_figure(fig.figure(), fig.name)
    schema = json.loads((ROOT / "docs/schema/load-curve.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(
        json.loads((tmp_path / "cmp/load_curve.json").read_text())
    )


@pytest.mark.slow
def test_a_simulated_m_m_1_queue_gives_knee_and_crossing_within_20pct(tmp_path: Path) -> None:
    # Stationary waits mix slowly near capacity, so a finite run's mean TTFT is noisy: over 6
    # seeds at n = 20000 the crossing came out −5…+10% from the truth, the knees −8…+9%.
    mm1_legs(tmp_path, RATES, MU, 20_000, T0, seed=2000)
    curve = lc.compare_load_points(
        lc.split([tmp_path / "on"], [tmp_path / "off"]), tmp_path / "cmp", n_boot=200
    )
    q = curve.queueing
    assert q is not None and q.supported and q.k_fitted and q.crossing is not None
    crossing, knees = truth()
    assert q.crossing.rate == pytest.approx(crossing, rel=0.2)
    for leg in ("on", "off"):
        assert q.legs[leg].knee_rate == pytest.approx(knees[leg], rel=0.2)
    assert q.k == pytest.approx(1.0, rel=0.2)


def test_the_profile_report_shows_its_load_points_as_a_load_curve(tmp_path: Path) -> None:
    legs = [Leg("on", "http://a", "m"), Leg("off", "http://b", "m")]
    wl = WorkloadSpec(request_rates=[2.0, 6.0, math.inf], num_requests=400)
    writer = create_profile(tmp_path, "p", model="mm1", legs=legs, workload=wl)

    def executor(task: RunTask) -> Path:
        rate = task.point.request_rate
        seed = {2.0: 1, 6.0: 2}.get(rate, 3)
        return mm1_run(
            task.runs_dir,
            task.leg.name,
            rate,
            MU[task.leg.name],
            400,
            0.05,
            seed,
            exact=True,
            experiment=task.experiment.model_dump(),
        )

    Experiment(writer, legs, profile_points(wl), executor, blocks=1).run()
    compare_points(writer)
    report = build(writer.root)
    headings = [s.heading for s in report.sections]
    assert "Load curve" in headings and any(h.startswith("Queueing model") for h in headings)
    table = next(t for t in report.tables() if t.title == "Overhead against offered load")
    assert [r[0] for r in table.rows] == ["rate=2", "rate=6", "rate=inf"]
    # the cells are the per-point comparisons' rows, not recomputed
    from profiler.results.comparison import Comparison

    cmp = Comparison.load(writer.root / "compare" / "rate=6")
    row = cmp.row("mean_ttft_ms")
    assert row is not None and f"{row.overhead_pct:+.2f}".replace("-", "−") in table.rows[1][4]
    figures = {f.name: f for f in report.figures()}
    for name in ("load_overhead_vs_load", "load_latency_vs_throughput"):
        assert figures[name].png()[:8] == b"\x89PNG\r\n\x1a\n"
