"""Reports from the real Phala H200 data (arXiv:2409.03992): the Llama-3.1-70B qps=1 pair per
request, and the all-models summaries as the Table 1/2 layout."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from rich.console import Console

from profiler import report
from profiler.report import models_view
from tests.report_checks import check_figure, check_html, check_png
from tests.report_data import PHALA

pytestmark = pytest.mark.skipif(not PHALA.is_dir(), reason=f"Phala data not at {PHALA}")


def phala_run(out: Path, leg: str) -> Path:
    """The importer's run directory: the real path a user takes."""
    from profiler.importers.vllm_bench import import_vllm_bench

    prefix = "tee" if leg == "on" else "base"
    return import_vllm_bench(
        PHALA / f"{prefix}_24cores_serving_llama70B_qps_1.json.gz", out, leg, "llama-3.1-70b"
    )[0]


@pytest.mark.slow  # ~10 s: 2 × 1000 requests with 160k token gaps, bootstrap, 6 plots
def test_phala_llama70b_comparison_report(tmp_path: Path) -> None:
    from profiler.analysis import compare
    on, off = phala_run(tmp_path / "runs", "on"), phala_run(tmp_path / "runs", "off")
    cmp_dir = tmp_path / "cmp"
    compare.compare_runs([on], [off], cmp_dir, paper_compat=True, n_boot=500)
    r = report.build(cmp_dir)
    assert r.headline[0].startswith("llama-3.1-70b: TEE adds ")
    for fig in r.figures():
        check_figure(fig.figure(), fig.name)
    written = report.write(r, ("md", "html", "png"), Console(file=open("/dev/null", "w")))  # noqa: SIM115
    check_html(cmp_dir / "report.html")
    for p in written:
        if p.suffix == ".png":
            check_png(p)

    # the paper-compatible table reproduces the authors' own csv row
    paper = next(t for t in r.tables() if t.title.startswith("Paper-compatible view"))
    cells = {row[0]: row for row in paper.rows}
    with open(PHALA / "h200_24c_combined_results.csv") as fh:
        want = next(row for row in csv.DictReader(fh) if "llama70B" in row["filename_tee_on"])
    assert cells["samples (after filtering)"][1:3] == [
        want["total_samples_tee_on"],
        want["total_samples_tee_off"],
    ]
    for label, key in (
        ("TTFT (s)", "ttft"),
        ("ITL = mean per-request decode time (s)", "itl"),
        ("TPS = mean of output tokens / decode time", "tps"),
    ):
        for col, leg in ((1, "on"), (2, "off")):
            assert float(cells[label][col]) == pytest.approx(float(want[f"{key}_tee_{leg}"]), rel=1e-5)
    for bucket in ("short", "medium", "long"):
        counts = cells[f"{bucket}: requests"][1:3]
        assert counts == [want[f"{bucket}_total_tee_on"], want[f"{bucket}_total_tee_off"]]

    # v0.5 results carry no send timestamps: the report says so rather than invent a time axis
    assert not any(f.name == "timeline" for f in r.figures())
    assert "No timeline: these runs carry no send/arrival timestamps" in (cmp_dir / "report.md").read_text()


def test_phala_models_tables(tmp_path: Path) -> None:
    tee = PHALA / "tee_24cores_benchmark_results.json"
    base = PHALA / "base_24cores_benchmark_results.json"
    written = report.render_benchmark_results(tee, base, tmp_path, ("md", "html", "png"))
    check_html(tmp_path / "report.html")
    check_png(tmp_path / "plots" / "models_overhead.png")
    rows = models_view.rows_from_benchmark_results(tee, base)
    assert {r.model for r in rows} == {"llama8B", "Phi3-14B-128k", "gemma27b", "llama70B"}
    assert len(rows) == 16  # 4 models × rates 1, 4, 16, inf
    # each overhead is recomputed from the two files with the DESIGN §4 sign convention
    on = {e["Test name"]: e for e in json.loads(tee.read_text())}
    off = {e["Test name"]: e for e in json.loads(base.read_text())}
    row = next(r for r in rows if r.model == "llama70B" and r.load == "rate=1")
    name = "serving_llama70B_tp1_sharegpt_qps_1"
    ttft_on, ttft_off = on[name]["Mean TTFT (ms)"], off[name]["Mean TTFT (ms)"]
    assert row.metrics["mean_ttft_ms"].overhead_pct == pytest.approx(100 * (ttft_on - ttft_off) / ttft_off)
    q_on, q_off = on[name]["Tput (req/s)"], off[name]["Tput (req/s)"]
    assert row.metrics["request_throughput"].overhead_pct == pytest.approx(100 * (q_off - q_on) / q_off)
    md = (tmp_path / "report.md").read_text()
    assert "Table 1 — throughput" in md and "Table 2 — latency" in md
    assert "no confidence interval" in md  # summaries only: said plainly
    assert tmp_path / "report.md" in written
