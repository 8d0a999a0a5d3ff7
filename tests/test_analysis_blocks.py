"""Paired blocks: coverage of the paired-block CI on synthetic drifting data, the two-stage rule
under optional stopping, power figures, and pairing of real run directories."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from profiler.analysis import stats
from profiler.analysis.compare import compare_runs
from profiler.config import WorkloadSpec
from profiler.experiment.engine import Experiment, RunTask
from profiler.experiment.legs import Leg
from profiler.experiment.profile import create_profile, profile_points
from tests.report_data import make_run

TRUE = 0.03  # +3% on the latency-like metric


def drifting_blocks(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-run values of n blocks on a host whose speed wanders by ~30% over the experiment
    (a random walk), plus drift inside a block (ABBA order), plus per-run noise."""
    host = np.exp(np.cumsum(rng.normal(0, 0.08, n)))  # block-to-block drift
    within = rng.normal(0, 0.01, n) * np.where(np.arange(n) % 2 == 0, 1, -1)
    on = host * (1 + TRUE) * np.exp(rng.normal(0, 0.02, n) + within)
    off = host * np.exp(rng.normal(0, 0.02, n) - within)
    return on, off


def test_paired_block_ci_covers_at_nominal_and_is_narrower_than_unpaired() -> None:
    rng = np.random.default_rng(7)
    trials, covered, covered_u, widths, widths_u = 2000, 0, 0, [], []
    for _ in range(trials):
        on, off = drifting_blocks(rng, 8)
        _, ci = stats.paired_log_ci(np.log(on / off), "latency")
        assert ci is not None
        covered += ci[0] <= 100 * TRUE <= ci[1]
        widths.append(ci[1] - ci[0])
        ci_u = stats.welch_log_ci(
            on, off, float(np.exp(np.log(on).mean())), float(np.exp(np.log(off).mean())), "latency", 0.95
        )
        assert ci_u is not None
        covered_u += ci_u[0] <= 100 * TRUE <= ci_u[1]
        widths_u.append(ci_u[1] - ci_u[0])
    rate = covered / trials
    assert 0.92 <= rate <= 0.98, rate
    assert np.median(widths) < 0.5 * np.median(widths_u)  # drift cancels inside a block
    assert covered_u / trials >= 0.9  # the unpaired interval is honest too, just wide


def test_two_stage_rule_keeps_its_coverage_under_optional_stopping() -> None:
    """Blocks are added until the target half-width is met (as --target-ci does): the number of
    blocks depends on the data, yet the two-stage interval keeps 95% coverage."""
    rng = np.random.default_rng(11)
    pilot, target = 8, 1.0
    trials, covered, sizes = 2000, 0, []
    for _ in range(trials):
        on, off = drifting_blocks(rng, 200)
        d = np.log(on / off)
        s, _ = stats.log_sd(d, pilot)
        assert s is not None
        n = min(stats.stein_blocks(s, pilot, target), 200)
        _, ci = stats.paired_log_ci(d[:n], "latency", pilot=pilot)
        assert ci is not None
        covered += ci[0] <= 100 * TRUE <= ci[1]
        sizes.append(n)
        if n < 200:  # the target was reached: half-width 100·(e^h − 1), relative to the ratio
            assert stats.half_width_pct(s, n, pilot - 1) <= target
    rate = covered / trials
    assert 0.93 <= rate <= 0.97, rate
    assert len(set(sizes)) > 5  # the stopping point really varied with the data


def test_power_figures_follow_the_t_formulas() -> None:
    s, n = 0.05, 10
    mde = stats.mde_pct(s, n, n - 1)
    t975, t80 = 2.2621571627409915, 0.8834038141
    assert mde == pytest.approx(100 * math.expm1((t975 + t80) * s / math.sqrt(n)), rel=1e-6)
    need = stats.blocks_for(s, 2.0)
    assert need is not None
    assert stats.half_width_pct(s, need, need - 1) <= 2.0 * 1.0001
    assert stats.half_width_pct(s, need - 1, need - 2) > 2.0 * 0.9999


def test_profile_runs_are_compared_as_paired_blocks_with_a_power_report(tmp_path: Path) -> None:
    legs = [Leg("on", "http://a", "m"), Leg("off", "http://b", "m")]
    wl = WorkloadSpec(request_rates=[math.inf], repeats=6, num_requests=40)
    writer = create_profile(tmp_path, "p", model="m", legs=legs, workload=wl)

    def executor(task: RunTask) -> Path:  # TTFT 40 vs 30 ms: +33%
        ttft = 40 if task.leg.name == "on" else 30
        return make_run(task.runs_dir, task.leg.name, n=40, ttft_ms=ttft, seed=task.block,
                        experiment=task.experiment)

    Experiment(writer, legs, profile_points(wl), executor, blocks=6).run()
    point = writer.index.load_points[0]
    cmp = compare_runs(
        [writer.root / r for r in point.runs["on"]],
        [writer.root / r for r in point.runs["off"]],
        tmp_path / "cmp",
        n_boot=200,
    )
    assert cmp.method.bootstrap == "blocks" and cmp.method.blocks == 6
    ttft = cmp.row("mean_ttft_ms")
    assert ttft is not None and ttft.significant and ttft.ci_low is not None and ttft.ci_high is not None
    assert ttft.ci_low < 100 * (40 / 30 - 1) < ttft.ci_high + 5
    tput = cmp.row("output_throughput")
    assert tput is not None and tput.ci_low is not None  # blocks give throughput a CI too
    assert cmp.power is not None and cmp.power.design == "blocks"
    row = next(r for r in cmp.power.rows if r.metric == "mean_ttft_ms")
    assert row.blocks == 6 and row.mde_pct is not None and row.half_width_pct is not None
    assert [n.target_pct for n in row.needed] == [1.0, 2.0, 5.0]
    assert not {w.code for w in cmp.warnings} & {"prompts_differ", "single_run", "unpaired"}
