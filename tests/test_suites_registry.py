"""The suite registry, the `suite` command, tidy results and what a failed or skipped run leaves."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from profiler.commands import suite as suite_cmd
from profiler.errors import UserError
from profiler.results.run import SuiteSummary
from profiler.store import read_run
from profiler.suites import SUITES, Rows, Suite, load_all, run_suite
from profiler.suites.base import RESULT_COLUMNS, doubling_up_to, int_list, size_bytes, summarize_results


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    suite_cmd.add_arguments(p)
    return p.parse_args(argv)


def test_every_suite_is_registered() -> None:
    assert {"llm", "cpu", "io", "net", "zk", "gpu"} <= set(load_all().names())


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert suite_cmd.run(_parse(["--list"])) == 0
    out = capsys.readouterr().out
    for name in ("cpu", "io", "net", "zk", "gpu", "llm"):
        assert f"\n{name} " in "\n" + out


@pytest.mark.slow  # importing torch takes seconds
def test_gpu_without_cuda_is_skipped_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA; the gpu-marked test covers it")
    except ImportError:
        pass
    assert suite_cmd.run(_parse(["gpu", "--label", "on", "--out", str(tmp_path)])) == 0
    assert capsys.readouterr().out.startswith("skipped: suite gpu:")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_option_helpers() -> None:
    assert int_list("1,2,8") == [1, 2, 8]
    with pytest.raises(argparse.ArgumentTypeError):
        int_list("1,x")
    with pytest.raises(argparse.ArgumentTypeError):
        int_list("0")
    assert doubling_up_to(1) == [1] and doubling_up_to(6) == [1, 2, 4, 6]
    assert doubling_up_to(8) == [1, 2, 4, 8]
    assert size_bytes("64M") == 64 << 20 and size_bytes("1g") == 1 << 30 and size_bytes("4096") == 4096
    assert size_bytes("512KiB") == 512 << 10
    with pytest.raises(argparse.ArgumentTypeError):
        size_bytes("lots")


def test_rows_and_summary() -> None:
    rows = Rows("cpu")
    for r, v in enumerate((10.0, 14.0)):
        rows.repeat = r
        rows.add("rating", v, unit="MIPS", direction="throughput", case="threads=2", threads=2, dict=22)
    frame = rows.frame()
    assert tuple(frame.columns) == RESULT_COLUMNS
    assert json.loads(frame["params"].iloc[0]) == {"dict": 22}
    (m,) = summarize_results(frame)["metrics"]
    assert (m["mean"], m["min"], m["max"], m["n"]) == (12.0, 10.0, 14.0, 2)
    assert m["std"] == pytest.approx(2.8284271)
    with pytest.raises(ValueError):
        rows.add("x", 1, unit="u", direction="sideways")


def _fake_suite(fail_on: int) -> Suite:
    # A plug-in whose second repetition fails: the first must survive, marked incomplete.
    def measure(args: argparse.Namespace, rows: Rows, tick: object) -> None:
        if rows.repeat == fail_on:
            raise RuntimeError("tool crashed")
        rows.add("m", 1.0 + rows.repeat, unit="u", direction="latency", case="c")

    return Suite(name="fake", help="", add_arguments=lambda p: None, measure=measure)


def test_failure_keeps_partial_results(tmp_path: Path) -> None:
    args = argparse.Namespace(label="on", out=tmp_path, repeats=3)
    with pytest.raises(UserError, match="tool crashed"):
        run_suite(_fake_suite(fail_on=1), args, quiet=True)
    (run_dir,) = tmp_path.iterdir()
    run = read_run(run_dir)
    assert run.manifest.status == "incomplete" and "tool crashed" in str(run.manifest.reason)
    assert run.manifest.kind == "fake"
    results = run.table("results")
    assert results is not None and list(results["value"]) == [1.0]


def test_complete_run_layout(tmp_path: Path) -> None:
    args = argparse.Namespace(label="off", out=tmp_path, repeats=2)
    path = run_suite(_fake_suite(fail_on=-1), args, quiet=True)
    run = read_run(path)
    assert run.complete and run.label == "off" and run.manifest.model_dump()["suite"]["repeats"] == 2
    assert (
        isinstance(run.summary, SuiteSummary) and run.summary.repeats == 2 and bool(run.manifest.environment)
    )
    assert "fake" not in SUITES  # run_suite does not need registration


def test_ctrl_c_keeps_partial_results_and_propagates(tmp_path: Path) -> None:
    def measure(args: argparse.Namespace, rows: Rows, tick: object) -> None:
        if rows.repeat == 1:
            raise KeyboardInterrupt
        rows.add("m", 5.0, unit="u", direction="throughput", case="c")

    suite = Suite(name="fake", help="", add_arguments=lambda p: None, measure=measure)
    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, argparse.Namespace(label="on", out=tmp_path, repeats=3), quiet=True)
    (run_dir,) = tmp_path.iterdir()
    run = read_run(run_dir)
    assert run.manifest.status == "incomplete" and "Ctrl-C" in str(run.manifest.reason)
    assert isinstance(run.summary, SuiteSummary) and run.summary.metrics[0].mean == 5.0


def test_unexpected_error_is_recorded_and_raised(tmp_path: Path) -> None:
    def measure(args: argparse.Namespace, rows: Rows, tick: object) -> None:
        raise KeyError("schema changed")

    suite = Suite(name="fake", help="", add_arguments=lambda p: None, measure=measure)
    with pytest.raises(KeyError):
        run_suite(suite, argparse.Namespace(label="on", out=tmp_path, repeats=1), quiet=True)
    (run_dir,) = tmp_path.iterdir()
    assert read_run(run_dir).manifest.status == "incomplete"
