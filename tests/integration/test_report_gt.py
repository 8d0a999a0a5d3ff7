"""End to end: real runs against two ground-truth SSE servers (known TTFT), the real comparison,
then the report. The headline must show what the servers were built to do.

The "TEE on" server answers with TTFT 30 ms, the "TEE off" one with 20 ms and the same ITL, so
the true TTFT overhead is about +50% (a little less: the client's own ~1 ms is in both legs).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from rich.console import Console

from profiler import report
from profiler.analysis.compare import compare_runs
from profiler.config import WorkloadSpec
from tests.report_checks import check_figure, check_html, check_png
from tests.support.runs import run_once
from tests.support.servers import gt_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_report_of_real_runs_shows_the_known_overhead(tmp_path: Path) -> None:
    workload = WorkloadSpec(
        num_requests=60, input_len=32, output_len=10, range_ratio=0.5, concurrency=4, warmup=4, seed=3
    )
    runs = {}
    with (
        gt_server("--ttft-ms", "30", "--itl-ms", "4") as on_url,
        gt_server("--ttft-ms", "20", "--itl-ms", "4") as off_url,
    ):
        for label, url in (("on", on_url), ("off", off_url)):
            runs[label] = run_once(
                tmp_path / "runs",
                endpoint=url,
                served_model="gt-model",
                workload=workload,
                request_rate=20.0,
                label=label,
                progress=False,
            )
    compare_runs([runs["on"]], [runs["off"]], tmp_path / "cmp", n_boot=500)

    r = report.build(tmp_path / "cmp")
    m = re.search(r"TEE adds (−?[\d.]+)% TTFT \(95% CI", r.headline[0])
    assert m, r.headline[0]
    # ground truth +50%; generous bounds for a shared 2-core machine
    assert 25 <= float(m.group(1).replace("−", "-")) <= 60, r.headline[0]
    for fig in r.figures():
        check_figure(fig.figure(), fig.name)
    # the timeline has a real time axis here: send/first/last stamps came from the client
    timeline = next(f for f in r.figures() if f.name == "timeline").figure()
    assert not any(t.get_text().startswith("no ") for ax in timeline.axes for t in ax.texts)
    written = report.write(r, report.DEFAULT_FORMATS, Console(file=open("/dev/null", "w")))  # noqa: SIM115
    check_html(tmp_path / "cmp" / "report.html")
    pngs = [p for p in written if p.suffix == ".png"]
    assert len(pngs) >= 5
    for p in pngs:
        check_png(p)
    assert math.isfinite(float(m.group(1).replace("−", "-")))

    # the single-run report of the "on" leg renders too
    run_written = report.render(runs["on"], ("md", "html"))
    check_html(runs["on"] / "report.html")
    assert runs["on"] / "report.md" in run_written
