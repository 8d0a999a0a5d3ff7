"""A/A: the same steady ground-truth server as both legs → every overhead CI contains 0.

Four real runs through ``profiler.runs.execute_run`` in ABBA order (on, off, off, on) against one
in-repo SSE server with fixed TTFT/ITL, then ``compare_runs``. Two runs per leg make the design
"repetitions", so run-to-run drift on this shared machine is inside the CI, as it must be.

Why a 99% level here: 18 correlated metrics each at 95% would, on a perfect server, leave about
one CI off 0 by chance in a fair share of A/A runs; the test checks the noise floor, not luck.
The 95% intervals are checked too, allowing that chance miss.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from profiler.analysis.compare import compare_runs
from profiler.config import WorkloadSpec
from tests.support.runs import run_once
from tests.support.servers import gt_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_aa_on_the_ground_truth_server_contains_zero(tmp_path: Path) -> None:
    workload = WorkloadSpec(
        num_requests=80, input_len=32, output_len=12, range_ratio=0.5, concurrency=4, warmup=4, seed=11
    )
    runs: dict[str, list[Path]] = {"on": [], "off": []}
    with gt_server("--ttft-ms", "20", "--itl-ms", "4") as url:
        for label in ("on", "off", "off", "on"):
            runs[label].append(
                run_once(
                    tmp_path / "runs",
                    endpoint=url,
                    served_model="gt-model",
                    workload=workload,
                    request_rate=math.inf,
                    label=label,
                    progress=False,
                )
            )
    result = compare_runs(runs["on"], runs["off"], tmp_path / "cmp", aa=True, n_boot=1000, confidence=0.99)
    assert result.method.bootstrap == "repetitions"
    assert result.aa is True
    rows = result.metrics
    assert rows and all(r.ci_low is not None for r in rows), [r.metric for r in rows if r.ci_low is None]
    outside = [(r.metric, r.ci_low, r.ci_high) for r in rows if not (r.ci_low or 0) <= 0 <= (r.ci_high or 0)]
    assert not outside, outside
    # The ground truth is visible through the pipeline: TTFT ≈ 20 ms, ITL ≈ 4 ms (generous: shared CPU).
    by = {r.metric: r for r in rows}
    assert 15 <= (by["mean_ttft_ms"].off or 0) <= 60
    assert 3 <= (by["p50_itl_ms"].off or 0) <= 12
    at95 = compare_runs(runs["on"], runs["off"], tmp_path / "cmp95", aa=True, n_boot=1000)
    misses = [r.metric for r in at95.metrics if r.significant]
    assert len(misses) <= 2, misses
