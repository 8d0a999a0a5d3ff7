"""The controls: the A/A false-positive rate (one server as both legs, ≥ 20 seeded profiles, plus
simulated ones), and the positive control (an injected cost is found inside its CI)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sstats

from profiler.analysis import stats
from profiler.analysis.compare import compare_runs
from profiler.config import WorkloadSpec
from profiler.controls.launch import injected_leg
from profiler.controls.proxy import Cost
from profiler.experiment.engine import Experiment
from profiler.experiment.legs import Leg
from profiler.experiment.profile import create_profile, llm_executor, profile_points
from profiler.experiment.request import ClientOptions
from tests.support.servers import gt_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HEADLINE = ("mean_ttft_ms", "mean_tpot_ms", "steady_output_throughput")
EXPERIMENTS = 20
WL = WorkloadSpec(num_requests=12, concurrency=4, input_len=8, output_len=12, warmup=2, repeats=8)


def _profile(root: Path, pid: str, legs: list[Leg], seed: int) -> tuple[list[Path], list[Path]]:
    wl = WL.model_copy(update={"seed": seed})
    writer = create_profile(root, pid, model="gt", legs=legs, workload=wl)
    import io

    from rich.console import Console

    quiet = Console(file=io.StringIO())
    Experiment(writer, legs, profile_points(wl), llm_executor("gt", ClientOptions(progress=False)), blocks=8,
               console=quiet).run()
    point = writer.index.load_points[0]
    return [writer.root / r for r in point.runs["on"]], [writer.root / r for r in point.runs["off"]]


def _upper(k: int, n: int) -> float:
    """One-sided 95% Clopper–Pearson upper bound of a rate k/n."""
    return 1.0 if k == n else float(sstats.beta.ppf(0.95, k + 1, n - k))


def test_aa_false_positive_rate_on_the_ground_truth_server(tmp_path: Path) -> None:
    hits, trials, seen = 0, 0, []
    with gt_server("--ttft-ms", "10", "--itl-ms", "3") as url:
        legs = [Leg("on", url, "gt-model"), Leg("off", url, "gt-model")]
        for e in range(EXPERIMENTS):
            on, off = _profile(tmp_path, f"aa{e}", legs, seed=100 + e)
            cmp = compare_runs(on, off, tmp_path / f"cmp{e}", aa=True, n_boot=100)
            assert cmp.method.bootstrap == "blocks"
            for key in HEADLINE:
                row = cmp.row(key)
                assert row is not None and row.significant is not None
                hits += bool(row.significant)
                trials += 1
                seen.append((key, row.overhead_pct, row.ci_low, row.ci_high))
    rate = hits / trials
    print(f"A/A on the ground-truth server: {hits}/{trials} headline metrics significant ({rate:.1%}, "
          f"95% upper bound {_upper(hits, trials):.1%})")
    # the rate is consistent with ≤ 5%: a method that claims 95% but fires far more often fails here
    lower = 0.0 if hits == 0 else float(sstats.beta.ppf(0.05, hits, trials - hits + 1))
    assert lower <= 0.05, (hits, trials, seen)


def test_aa_false_positive_rate_simulated() -> None:
    """20,000 simulated A/A profiles of 8 blocks on a drifting host: the paired-block interval is
    significant in 5% of them (binomial 3σ band)."""
    rng = np.random.default_rng(5)
    n = 20_000
    host = np.exp(np.cumsum(rng.normal(0, 0.08, (n, 8)), axis=1))
    on = host * np.exp(rng.normal(0, 0.03, (n, 8)))
    off = host * np.exp(rng.normal(0, 0.03, (n, 8)))
    hits = sum(
        bool(stats.significant(stats.paired_log_ci(np.log(a / b), "latency")[1]))
        for a, b in zip(on, off, strict=True)
    )
    rate = hits / n
    assert abs(rate - 0.05) < 3 * math.sqrt(0.05 * 0.95 / n), rate


def test_positive_control_is_recovered_inside_its_ci(tmp_path: Path) -> None:
    """+1.5 ms per event on a 10 ms ITL (+15% TPOT), +5 ms first byte on 20 ms TTFT (+25%).

    The reference leg goes through a zero-cost proxy, so the hop itself (a loopback forward,
    a few hundred µs on TTFT, nothing on the gaps) is on both legs and the only difference is
    the injected cost. 99% intervals: two metrics at 95% would miss together one run in ten."""
    cost = Cost(first_byte_ms=5.0, per_event_us=1500.0)
    with gt_server("--ttft-ms", "20", "--itl-ms", "10") as url:
        server = Leg("direct", url, "gt-model")
        with injected_leg(server, "on", cost) as proxied, injected_leg(server, "off", Cost()) as plain:
            on, off = _profile(tmp_path, "inj", [proxied, plain], seed=1)
        cmp = compare_runs(on, off, tmp_path / "cmp", n_boot=100, confidence=0.99)
    tpot, ttft = cmp.row("mean_tpot_ms"), cmp.row("mean_ttft_ms")
    assert tpot is not None and ttft is not None and tpot.off is not None and ttft.off is not None
    # the truth, from the direct leg's own level: +Y per gap and +X on the first token
    truth_tpot = 100 * 1.5 / tpot.off
    truth_ttft = 100 * 5.0 / ttft.off
    print(
        f"positive control: TPOT injected {truth_tpot:+.2f}% measured {tpot.overhead_pct:+.2f}% "
        f"[{tpot.ci_low:.2f}, {tpot.ci_high:.2f}]; TTFT injected {truth_ttft:+.2f}% measured "
        f"{ttft.overhead_pct:+.2f}% [{ttft.ci_low:.2f}, {ttft.ci_high:.2f}]"
    )
    for row, truth in ((tpot, truth_tpot), (ttft, truth_ttft)):
        assert row.significant and row.ci_low is not None and row.ci_high is not None
        assert row.ci_low <= truth <= row.ci_high, (row.metric, truth, row.ci_low, row.ci_high)
