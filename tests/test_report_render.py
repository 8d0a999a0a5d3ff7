"""Every format rendered from real run, comparison and profile directories written in the test.

Run directories come from hand-made integer timestamps through the real metric functions and
store; comparisons from the real analysis (profiler.analysis.compare). Each output is checked
as a reader would: HTML well-formed and self-contained, PNGs open and are not blank, every
figure has a title, axis labels and a legend.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from profiler import report
from profiler.analysis import compare
from profiler.errors import UserError
from profiler.store import write_json
from tests.report_checks import check_figure, check_html, check_png
from tests.report_data import make_run


def quiet() -> Console:
    return Console(file=open("/dev/null", "w"), width=160)


def record_console() -> Console:
    return Console(record=True, width=160, file=open("/dev/null", "w"))


def check_all(path: Path, report_obj: report.Report) -> None:
    names = [f.name for f in report_obj.figures()]
    assert len(names) == len(set(names)), "plot names must be unique"
    for fig in report_obj.figures():
        check_figure(fig.figure(), fig.name)
    written = report.write(report_obj, report.DEFAULT_FORMATS, quiet())
    html = path / "report.html"
    md = path / "report.md"
    assert html in written and md in written
    parser = check_html(html)
    assert parser.tags.get("img", 0) == len(names)
    text = md.read_text()
    for name in names:
        png = path / "plots" / f"{name}.png"
        assert png in written
        check_png(png)
        assert f"(plots/{name}.png)" in text


@pytest.fixture(scope="module")
def comparison_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cmp")
    on = make_run(out / "runs", "on", n=120, ttft_ms=46, itl_ms=8.4, seed=3, telemetry=True)
    off = make_run(out / "runs", "off", n=120, ttft_ms=40, itl_ms=8.0, seed=3, telemetry=True)
    compare.compare_runs([on], [off], out / "cmp", paper_compat=True, n_boot=300)
    return out / "cmp"


def test_single_run_every_format(tmp_path: Path) -> None:
    run = make_run(tmp_path, "on", n=50, fail_every=10, telemetry=True)
    r = report.build(run)
    assert r.kind == "run"
    assert [s.heading for s in r.sections] == [
        "What ran",
        "Summary",
        "Data-quality warnings",
        "Environment",
        "Plots",
    ]
    assert {f.name for f in r.figures()} == {"latency_cdf", "latency_vs_tokens", "timeline", "gpu_telemetry"}
    codes = [
        w.code for s in r.sections for b in s.blocks if isinstance(b, report.model.Warnings) for w in b.items
    ]
    assert "failed_requests" in codes  # 5 of 50 failed
    check_all(run, r)
    assert "45 requests completed, 5 failed" in (run / "report.md").read_text()


def test_incomplete_run_says_so(tmp_path: Path) -> None:
    run = make_run(tmp_path, "off", n=20, status="incomplete")
    r = report.build(run)
    assert "partial results" in r.headline[0]
    from profiler.report.markdown import to_markdown  # the text alone: no plots drawn

    md = to_markdown(r)
    assert "incomplete" in md and "interrupted by Ctrl-C" in md


def test_comparison_every_format(comparison_dir: Path) -> None:
    r = report.build(comparison_dir)
    assert r.kind == "comparison"
    cmp = json.loads((comparison_dir / "comparison.json").read_text())
    ttft = next(m for m in cmp["metrics"] if m["metric"] == "mean_ttft_ms")
    # the headline carries the analysis' own numbers, rounded as printed
    assert f"TEE adds {ttft['overhead_pct']:.1f}% TTFT (95% CI " in r.headline[0]
    headings = [s.heading for s in r.sections]
    for expected in ("Overhead", "Data-quality warnings", "Environment", "Paper-compatible view", "Plots"):
        assert expected in headings
    env = next(s for s in r.sections if s.heading == "Environment").blocks[0]
    assert isinstance(env, report.model.Table)
    assert ["tee.type ≠", "tdx", "none"] in env.rows  # the legs' TEE type differs, and is marked
    names = {f.name for f in r.figures()}
    assert {"overhead", "latency_cdf", "latency_vs_tokens", "timeline", "gpu_telemetry"} <= names
    check_all(comparison_dir, r)
    html = (comparison_dir / "report.html").read_text()
    assert "95% CI" in html and "Paper-compatible view" in html


def test_token_volume_figure_draws_the_fit(comparison_dir: Path) -> None:
    from profiler.results.comparison import Comparison

    tv = Comparison.load(comparison_dir).token_volume
    assert tv is not None
    if tv.fit is None:
        pytest.skip(f"the analysis fitted no curve here: {tv.reason}")
    from profiler.report import fits, plots_latency

    fig = plots_latency.token_volume(tv)
    check_figure(fig, "token_volume")
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert any(str(lab).startswith("fit: ") for lab in labels)
    fit = tv.fit
    drawn = next(line for line in fig.axes[0].lines if str(line.get_label()).startswith("fit: "))
    assert fit.curve is not None  # the analysis' own points are what is drawn
    ydata = np.asarray(drawn.get_ydata(), dtype=float).tolist()
    assert ydata == pytest.approx(fit.curve.overhead_pct)
    assert any("95% band" in str(c.get_label()) for c in fig.axes[0].collections)
    # evaluated from the form alone, the curve meets the analysis' overhead at both token ends
    got = fits.curve(fit.model_copy(update={"curve": None}), [])
    assert got is not None
    assert got[1][0] == pytest.approx(fit.overhead_at_min_pct, rel=1e-6)
    assert got[1][-1] == pytest.approx(fit.overhead_at_max_pct, rel=1e-6)


def test_aa_comparison_is_labelled_a_calibration(tmp_path: Path) -> None:
    a = make_run(tmp_path / "runs", "on", n=60, seed=5)
    b = make_run(tmp_path / "runs", "off", n=60, seed=5)
    compare.compare_runs([a], [b], tmp_path / "aa", aa=True, n_boot=200)
    r = report.build(tmp_path / "aa")
    assert "A/A calibration" in r.title and "not a TEE measurement" in r.headline[0]
    from profiler.report.html import to_html

    assert r.calibration and "A/A calibration: noise floor, not a TEE cost" in to_html(r)


@pytest.mark.slow  # about 6 s: two load points and a models table, every plot drawn
def test_profile_dir_and_folder_of_comparisons(tmp_path: Path, comparison_dir: Path) -> None:
    prof = tmp_path / "prof"
    runs = prof / "runs"
    points: list[dict[str, Any]] = []
    for name, rate, ttft_on in (("rate=10", 10.0, 44.0), ("rate=inf", "inf", 48.0)):
        on = make_run(runs, "on", n=60, ttft_ms=ttft_on, seed=7)
        off = make_run(runs, "off", n=60, ttft_ms=40, seed=7)
        compare.compare_runs([on], [off], prof / "compare" / name, n_boot=200)
        points.append(
            {
                "name": name,
                "request_rate": rate,
                "concurrency": 8,
                "runs": {"on": [str(on.relative_to(prof))], "off": [str(off.relative_to(prof))]},
                "comparison": f"compare/{name}",
            }
        )
    points.append(
        {
            "name": "rate=1",
            "request_rate": 1.0,
            "concurrency": 8,
            "runs": {"on": [], "off": []},
            "comparison": None,
        }
    )
    write_json(
        prof / "profile.json",
        {
            "schema_version": 2,
            "kind": "profile",
            "id": "p1",
            "tool_version": "test",
            "model": "tiny-llama",
            "aa": False,
            "status": "incomplete",
            "reason": "interrupted",
            "legs": {
                leg: {"engine": {"name": "vllm-cpu", "args": ["--enforce-eager"]}} for leg in ("on", "off")
            },
            "design": {"name": "abba", "description": "ABBA"},
            "load_points": points,
        },
    )
    r = report.build(prof)
    assert r.kind == "profile"
    assert r.headline[0].startswith("Profile status: incomplete")
    assert any(h.startswith("rate=10 — tiny-llama: TEE adds") for h in r.headline)
    assert any(h.startswith("rate=1: no comparison") for h in r.headline)
    overview = r.sections[0].blocks[0]
    assert isinstance(overview, report.model.Table) and len(overview.rows) == 3
    assert any(f.name == "rate_inf_timeline" for f in r.figures())
    check_all(prof, r)

    # a folder holding comparisons and profiles → the models × overheads table
    folder = tmp_path / "many"
    folder.mkdir()
    (folder / "a").symlink_to(comparison_dir, target_is_directory=True)
    (folder / "b").symlink_to(prof, target_is_directory=True)
    models = report.build(folder)
    assert models.kind == "models"
    table1 = models.tables()[0]
    assert table1.title.startswith("Table 1") and len(table1.rows) == 3  # 1 comparison + 2 load points
    assert "GPU busy on / off (%)" in table1.columns  # the first comparison carries telemetry
    check_all(folder, models)


def test_console_shows_headline_and_tables(comparison_dir: Path) -> None:
    con = record_console()
    report.render(comparison_dir, ("console",), con)
    text = con.export_text()
    assert (
        "TEE adds" in text and "Overhead of TEE on vs TEE off" in text and "Environment of each leg" in text
    )


def test_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"holds no manifest\.json"):
        report.build(tmp_path)
    with pytest.raises(UserError, match="is not a directory"):
        report.build(tmp_path / "nope")
    with pytest.raises(UserError, match="unknown report format 'pdf'; known: console, html, md, png"):
        report.parse_formats("md,pdf")


def test_report_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from profiler.commands import report as cmd

    run = make_run(tmp_path / "runs", "on", n=30)
    parser = argparse.ArgumentParser()
    cmd.add_arguments(parser)
    out = tmp_path / "elsewhere"
    assert cmd.run(parser.parse_args([str(run), "--format", "html", "--out", str(out)])) == 0
    assert (out / "report.html").is_file() and not (run / "report.html").exists()
    assert not (out / "plots").exists()  # html embeds its plots; only md/png write files
    with pytest.raises(UserError, match="does not exist"):
        cmd.run(parser.parse_args([str(tmp_path / "missing")]))


def test_paper_compat_on_request(tmp_path: Path, comparison_dir: Path) -> None:
    from profiler.report.model import Options

    run = make_run(tmp_path, "on", n=40)
    r = report.build(run, None, Options(paper_compat=True))
    table = next(t for t in r.tables() if t.title.startswith("Paper-compatible view"))
    samples = int(table.rows[0][1])
    assert 0 < samples <= 40  # the paper's filter drops outputs of ≤ 2 tokens
    # a comparison stored without the view gets it computed from its runs
    cmp = json.loads((comparison_dir / "comparison.json").read_text())
    cmp["paper_compat"] = None
    bare = tmp_path / "bare"
    bare.mkdir()
    write_json(bare / "comparison.json", cmp)
    plain = report.build(bare)
    assert not any(t.title.startswith("Paper-compatible") for t in plain.tables())
    asked = report.build(bare, None, Options(paper_compat=True))
    assert any(t.title.startswith("Paper-compatible") for t in asked.tables())


def test_several_inputs_must_all_be_comparisons_or_profiles(tmp_path: Path, comparison_dir: Path) -> None:
    run = make_run(tmp_path / "runs", "on", n=20)
    with pytest.raises(UserError, match="neither a comparison"):
        report.render_many([comparison_dir, run], tmp_path / "out", ("md",))
