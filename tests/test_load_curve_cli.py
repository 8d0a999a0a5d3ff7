"""Several files per import, pairing by load point in compare, the sweep's and plan's load curve,
and every bad input as one line."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from profiler.cli import main
from profiler.results.comparison import Comparison
from profiler.results.load_curve import LoadCurve
from profiler.store import list_runs, read_run
from tests.support.queue_runs import mm1_run
from tests.support.servers import ROOT
from tests.test_capacity_sweep import SPEEDS, Runner, drive, spec
from tests.test_import_vllm_bench import _current_result


def _file(path: Path, **changes: Any) -> Path:
    result = _current_result()
    result.update(changes)
    for key in [k for k, v in changes.items() if v is ...]:
        del result[key]
    path.write_text(json.dumps(result))
    return path


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def test_one_import_writes_a_run_per_file_with_its_load_point(tmp_path: Path) -> None:
    a = _file(tmp_path / "a.json", request_rate=4.0, max_concurrency=None)
    b = _file(tmp_path / "b.json", request_rate="inf", max_concurrency=16)
    lines = tmp_path / "c.json.gz"  # an --append-result file: one run per result
    lines.write_bytes(
        gzip.compress(
            "\n".join(json.dumps({**_current_result(), "request_rate": r}) for r in (1, 2)).encode()
        )
    )
    assert (
        main(
            [
                "import",
                "vllm-bench",
                str(a),
                str(b),
                str(lines),
                "--label",
                "on",
                "--out",
                str(tmp_path / "on"),
            ]
        )
        == 0
    )
    points = {
        (m.request_rate, (m.workload or {}).get("concurrency"))
        for m in (read_run(p).manifest for p in list_runs(tmp_path / "on"))
    }
    assert points == {(4.0, None), (math.inf, 16), (1.0, 2), (2.0, 2)}


def test_a_rate_less_file_needs_rate_when_several_are_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _file(tmp_path / "a.json", request_rate=..., max_concurrency=...)
    b = _file(tmp_path / "b.json", request_rate=2.0)
    out = tmp_path / "runs"
    assert main(["import", "vllm-bench", str(b), str(a), "--label", "on", "--out", str(out)]) == 2
    _one_line_error(capsys, "a.json", "records no request_rate", "--rate")
    assert list_runs(out) == []  # nothing half-imported
    # alone, a rate-less file imports as before (no load point); with --rate it takes that one
    assert main(["import", "vllm-bench", str(a), "--label", "on", "--out", str(out / "alone")]) == 0
    assert read_run(list_runs(out / "alone")[0]).manifest.request_rate is None
    rated = tmp_path / "rated"
    assert (
        main(["import", "vllm-bench", str(a), str(b), "--rate", "8", "--label", "on", "--out", str(rated)])
        == 0
    )
    rates = sorted(read_run(p).manifest.request_rate or 0 for p in list_runs(rated))
    assert rates == [2.0, 8.0]  # the file's own rate wins over --rate
    noted = [read_run(p).manifest.notes for p in list_runs(rated) if read_run(p).manifest.request_rate == 8.0]
    assert any("from --rate" in n for n in noted[0])


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: d, "is a directory"),
        (lambda d: Path("/dev/null"), "not a regular file"),
        (lambda d: d / "absent.json", "no such file"),
        (lambda d: _truncated(d), "truncated gzip"),
        (
            lambda d: _file(d / "x.json", input_lens=["ten", 20, 30, 40]),
            "input_lens holds a value that is not a number",
        ),
        (
            lambda d: _file(d / "x.json", output_lens=[3, 2.5, 0, 4]),
            "output_lens holds a value that is not a whole",
        ),
        (lambda d: _file(d / "x.json", request_rate="fast"), "request_rate 'fast' is not a number"),
        (lambda d: _empty(d), "empty file"),
    ],
)
def test_bad_inputs_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, needle: str
) -> None:
    path = make(tmp_path)
    assert main(["import", "vllm-bench", str(path), "--label", "on", "--out", str(tmp_path / "runs")]) == 2
    _one_line_error(capsys, needle)


def _truncated(d: Path) -> Path:
    path = d / "t.json.gz"
    path.write_bytes(gzip.compress(json.dumps(_current_result()).encode())[:40])
    return path


def _empty(d: Path) -> Path:
    path = d / "e.json"
    path.write_text("")
    return path


def test_bad_flags_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _file(tmp_path / "a.json")
    assert (
        main(["import", "vllm-bench", str(a), "--rate", "-1", "--label", "on", "--out", str(tmp_path)]) == 2
    )
    _one_line_error(capsys, "--rate")
    on = mm1_run(tmp_path / "on", "on", 2.0, 9.0, 50, 0.05, 1)
    off = mm1_run(tmp_path / "off", "off", 2.0, 10.0, 50, 0.05, 1)
    args = ["compare", str(on), str(off), "--out", str(tmp_path / "c"), "--ttft-overhead-limit", "nan"]
    assert main(args) == 2
    _one_line_error(capsys, "--ttft-overhead-limit")


def _legs(root: Path, on: list[float], off: list[float], n: int = 300) -> None:
    for k, rate in enumerate(sorted(set(on) | set(off))):
        for leg, rates, mu in (("on", on, 9.0), ("off", off, 10.0)):
            if rate in rates:
                mm1_run(root / leg, leg, rate, mu, n, 0.05, seed=k, exact=True)


def _compare(tmp_path: Path, out: Path) -> int:
    return main(["compare", str(tmp_path / "on"), str(tmp_path / "off"), "--out", str(out), "--n-boot", "100",
                 "--no-report"])


def test_points_one_leg_lacks_are_listed_not_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _legs(tmp_path, [2.0, 5.0, math.inf], [2.0, math.inf])
    out = tmp_path / "cmp"
    assert _compare(tmp_path, out) == 0
    curve = LoadCurve.load(out)
    assert [p.name for p in curve.points] == ["rate=2", "rate=inf"]
    assert [(u.name, u.leg, len(u.runs)) for u in curve.unpaired] == [("rate=5", "on", 1)]
    assert "measured by one leg only" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["rate=2", "rate=inf"]


def test_no_common_load_point_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _legs(tmp_path, [1.0, 2.0], [4.0, 8.0])
    assert main(["compare", str(tmp_path / "on"), str(tmp_path / "off"), "--out", str(tmp_path / "c")]) == 2
    _one_line_error(
        capsys, "no load point was measured on both legs", "on: rate=1, rate=2", "off: rate=4, rate=8"
    )


def test_one_point_per_leg_compares_exactly_as_before(tmp_path: Path) -> None:
    _legs(tmp_path, [2.0], [2.0])
    out = tmp_path / "cmp"
    assert _compare(tmp_path, out) == 0
    assert (out / "comparison.json").is_file() and not (out / "load_curve.json").exists()
    direct = tmp_path / "direct"
    from profiler.analysis.compare import compare_runs

    compare_runs([tmp_path / "on"], [tmp_path / "off"], direct, n_boot=100)
    a, b = Comparison.load(out), Comparison.load(direct)
    assert [m.model_dump() for m in a.metrics] == [m.model_dump() for m in b.metrics]


def test_the_sweep_gets_its_load_curve_and_the_plan_its_latency_overhead(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from profiler.capacity.load_curve import sweep_load_curve

    path = drive(tmp_path, spec(), Runner(SPEEDS))
    curve = sweep_load_curve(path, n_boot=100)
    assert curve is not None and curve.load_kind == "concurrency" and curve.source == "sweep"
    assert [p.name for p in curve.points] == [f"concurrency={c}" for c in (1, 2, 4, 8, 16)]
    schema = json.loads((ROOT / "docs/schema/load-curve.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(
        json.loads((path / "compare/load_curve.json").read_text())
    )
    row = curve.points[0].row("mean_ttft_ms")
    alone = Comparison.load(path / "compare" / "concurrency=1").row("mean_ttft_ms")
    assert row is not None and alone is not None and row.overhead_pct == alone.overhead_pct
    assert main(["report", str(path), "--format", "console"]) == 0
    assert "Overhead against offered load" in capsys.readouterr().out

    assert main(["plan", "--sweep", str(path), "--target-qps", "100", "--n-boot", "0"]) == 0
    plan = json.loads((path / "plan.json").read_text())
    lat = plan["latency_overhead"]
    assert lat["supported"] and set(lat["legs"]) == {"on", "off"}
    for label, leg in lat["legs"].items():
        assert leg["rate_per_replica"] == pytest.approx(100 / plan["legs"][label]["replicas"])
    assert "TTFT overhead" in plan["sentence"] and "TTFT overhead" in " ".join(
        capsys.readouterr().out.split()
    )


def test_a_plan_says_when_the_sweep_cannot_support_the_model(tmp_path: Path) -> None:
    # --no-stop over two loads that never saturate: no capacity was measured
    path = drive(tmp_path, spec(loads=(1, 2), stop_on_saturation=False), Runner(SPEEDS))
    assert main(["plan", "--sweep", str(path), "--target-qps", "5", "--n-boot", "0"]) == 0
    plan = json.loads((path / "plan.json").read_text())
    assert not plan["latency_overhead"]["supported"]
    assert "cannot be modelled: no saturated point" in plan["sentence"]
