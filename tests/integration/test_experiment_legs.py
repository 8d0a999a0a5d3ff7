"""k legs end to end: three ground-truth servers as base, tdx and cc (ITL 10.0 / 10.2 / 10.5 ms),
profiled in Williams order, compared against the baseline and along the chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from profiler.results.comparison import Comparison
from profiler.results.decomposition import Decomposition
from profiler.results.index import ProfileIndex
from profiler.store import read_run
from tests.support.servers import ROOT, gt_server, gt_tpot_ms

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIGURED = {"tdx-vs-base": 100 * (10.2 / 10.0 - 1), "cc-vs-base": 100 * (10.5 / 10.0 - 1),
              "cc-vs-tdx": 100 * (10.5 / 10.2 - 1)}


def _models(tmp_path: Path) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(json.dumps({"models": {"gt": {
        "hf_id": "test/gt", "served_name": "gt-model",
        "workload": {"num_requests": 16, "concurrency": 4, "input_len": 16, "output_len": 24,
                     "request_rates": ["inf"], "repeats": 3},
    }}}))
    return path


def test_three_legs_find_each_increment(tmp_path: Path) -> None:
    with (
        gt_server("--ttft-ms", "50", "--itl-ms", "10.0") as base,
        gt_server("--ttft-ms", "50", "--itl-ms", "10.2") as tdx,
        gt_server("--ttft-ms", "50", "--itl-ms", "10.5") as cc,
    ):
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "profiler.cli",
                "profile",
                "--model",
                "gt",
                "--models",
                str(_models(tmp_path)),
                "--leg",
                f"base={base}",
                "--leg",
                f"tdx={tdx}",
                "--leg",
                f"cc={cc}",
                "--baseline",
                "base",
                "--chain",
                "base,tdx,cc",
                "--repeats",
                "3",
                "--out",
                str(tmp_path),
                "--profile-id",
                "k",
                "--no-report",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "COLUMNS": "200"},
        )
        did = {"base": gt_tpot_ms(base), "tdx": gt_tpot_ms(tdx), "cc": gt_tpot_ms(cc)}
    assert res.returncode == 0, res.stderr[-3000:]
    # the truth is what the servers did (their logs); it must be near what they were told
    truth = {f"{a}-vs-{b}": 100 * (did[a] / did[b] - 1) for a, b in (("tdx", "base"), ("cc", "base"),
                                                                    ("cc", "tdx"))}
    for name, configured in CONFIGURED.items():
        assert truth[name] == pytest.approx(configured, abs=0.6), (name, truth[name], did)
    prof = ProfileIndex.load(tmp_path / "k")
    assert prof.design.name == "williams" and prof.baseline == "base" and prof.chain == ["base", "tdx", "cc"]
    point = prof.load_points[0]
    assert {leg: len(r) for leg, r in point.runs.items()} == {"base": 3, "tdx": 3, "cc": 3}
    # Williams order for 3 legs: over the blocks run, no leg always first
    firsts = []
    for block in range(3):
        runs = [(read_run(tmp_path / "k" / r).manifest, r) for rs in point.runs.values() for r in rs]
        in_block = sorted(
            (m.started or "", m.label) for m, _ in runs if m.experiment and m.experiment.block == block
        )
        firsts.append(in_block[0][1])
    assert len(set(firsts)) == 3
    found = {}
    for name, true in truth.items():
        cmp = Comparison.load(tmp_path / "k" / point.comparisons[name])
        row = cmp.row("mean_tpot_ms")
        assert row is not None and row.ci_low is not None and row.ci_high is not None
        assert cmp.method.bootstrap == "blocks" and cmp.method.blocks == 3
        assert row.ci_low <= true <= row.ci_high, (name, row.overhead_pct, row.ci_low, row.ci_high, true)
        found[name] = (row.overhead_pct, row.ci_low, row.ci_high, true)
    assert point.decomposition is not None
    d = Decomposition.load(tmp_path / "k" / point.decomposition)
    tpot = next(r for r in d.metrics if r.metric == "mean_tpot_ms")
    assert [(s.leg, s.reference) for s in tpot.steps] == [("tdx", "base"), ("cc", "tdx")]
    shares = [s.share_pct for s in tpot.steps]
    assert all(s is not None for s in shares) and sum(s or 0 for s in shares) == pytest.approx(100, abs=0.01)
    print("k-leg TPOT increments (estimate, CI):", found)
    from profiler.report import render

    render(tmp_path / "k", formats=("md", "png"))
    md = (tmp_path / "k" / "report.md").read_text()
    assert "Decomposition along base → tdx → cc" in md and "Of the total" in md
    assert "cc-vs-tdx" in md and "tdx adds" in md
    assert (tmp_path / "k" / "plots" / "rate_inf_decomposition.png").stat().st_size > 10_000
