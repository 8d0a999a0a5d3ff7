"""The sweep driver, sweep.json and the plan command on synthetic run directories (no servers).

The point runner here writes a run directory from a service model instead of measuring one, so
the driver's own logic (interleaving, stopping a leg at saturation, saving on Ctrl-C and errors,
re-reading every point from its run) is checked fast; the measured path is
tests/integration/test_capacity_e2e.py.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.metrics import REQUEST_COLUMNS, summarize
from profiler.capacity.points import SloStat, nanpercentile_rows, point_from_run
from profiler.capacity.slo import capacity_of, parse_slos
from profiler.capacity.sweep import SweepSpec, create_sweep, run_sweep
from profiler.capacity.sweepfile import read_sweep
from profiler.cli import main
from profiler.config import WorkloadSpec
from profiler.errors import UserError
from profiler.experiment.engine import RunTask
from profiler.experiment.legs import Leg
from profiler.store import STATUS_INCOMPLETE, write_run

MS = 1_000_000


def synthetic_frame(load: float, speed: float, n: int = 40, seed: int = 0) -> pd.DataFrame:
    """A closed-loop run on a server with 4 slots: throughput ∝ min(load, 4), queueing past it."""
    rng = np.random.default_rng(seed)
    slots = min(load, 4)
    service_ms = 100.0 / speed
    queue_ms = max(0.0, load / 4 - 1) * service_ms
    rows = []
    for i in range(n):
        sent = int(i * service_ms / slots * MS)
        ttft = 10.0 / speed + queue_ms + rng.uniform(0, 2)
        tpot = 5.0 / speed
        e2el = ttft + 9 * tpot
        rows.append({
            "request_id": i, "scheduled_ns": sent, "sent_ns": sent, "first_ns": sent + int(ttft * MS),
            "last_ns": sent + int(e2el * MS), "connect_ms": 0.1, "ttft_ms": ttft, "tpot_ms": tpot,
            "e2el_ms": e2el, "itl_ms": [tpot] * 9, "input_tokens": 16, "output_tokens": 10,
            "ok": True, "error": None,
        })
    frame = pd.DataFrame(rows)
    assert list(frame.columns) == list(REQUEST_COLUMNS)
    return frame


class Runner:
    """Writes a synthetic run per call; records the call order; can fail on a given call."""

    def __init__(
        self, speeds: dict[str, float], fail_on: int | None = None, exc: BaseException | None = None
    ) -> None:
        self.speeds, self.fail_on, self.exc = speeds, fail_on, exc
        self.calls: list[tuple[str, float]] = []

    def __call__(self, task: RunTask) -> Path:
        load, leg, runs = task.point.load, task.leg, task.runs_dir
        assert load is not None
        self.calls.append((leg.name, load))
        manifest = {
            "label": leg.name,
            "model": "synthetic",
            "workload": task.workload.model_dump(mode="json"),
            "request_rate": task.point.request_rate,
            "experiment": task.experiment,
        }
        frame = synthetic_frame(load, self.speeds[leg.name], seed=len(self.calls))
        if self.fail_on == len(self.calls):
            write_run(
                runs,
                manifest,
                requests=frame.iloc[:10],
                summary=summarize(frame.iloc[:10]),
                status=STATUS_INCOMPLETE,
                reason="interrupted",
            )
            assert self.exc is not None
            raise self.exc
        return write_run(runs, manifest, requests=frame, summary=summarize(frame))


LEGS = [Leg("on", "http://127.0.0.1:1", "synthetic"), Leg("off", "http://127.0.0.1:2", "synthetic")]
SPEEDS = {"on": 0.8, "off": 1.0}


def drive(out: Path, sweep_spec: SweepSpec, runner: Runner, sweep_id: str = "s") -> Path:
    """The sweep command's path without the CLI: index, engine, capacity section."""
    writer = create_sweep(out, sweep_spec, LEGS, sweep_id)
    return run_sweep(writer, sweep_spec, LEGS, runner, progress=False)


def spec(**kw: Any) -> SweepSpec:
    base = {
        "mode": "concurrency",
        "loads": (1, 2, 4, 8, 16, 32),
        "workload": WorkloadSpec(num_requests=40),
        "slos": parse_slos("ttft_p99_ms=40"),
        "model_key": "synthetic",
    }
    return SweepSpec(**{**base, **kw})


def test_driver_interleaves_stops_at_saturation_and_links_every_run(tmp_path: Path) -> None:
    runner = Runner(SPEEDS)
    path = drive(tmp_path, spec(), runner)
    # on before off at even points, off before on at odd ones; flat at 8, confirmed at 16
    assert runner.calls == [
        ("on", 1),
        ("off", 1),
        ("off", 2),
        ("on", 2),
        ("on", 4),
        ("off", 4),
        ("off", 8),
        ("on", 8),
        ("on", 16),
        ("off", 16),
    ]
    raw = json.loads((path / "sweep.json").read_text())
    assert raw["status"] == "complete" and raw["sweep"]["slos"] == {"ttft_p99_ms": 40.0} and not raw["aa"]
    data = read_sweep(path)
    for label in ("on", "off"):
        leg = raw["sweep"]["legs"][label]
        # 16: throughput flat a second time, and queueing makes p99 TTFT 27× the first point's
        assert leg["saturation"]["index"] == 4 and "exploded" in leg["saturation"]["reason"]
        assert leg["stopped"].startswith("saturated at concurrency 16")
        assert [p["load"] for p in leg["points"]] == [1, 2, 4, 8, 16]
        assert all((path / p["run"] / "manifest.json").is_file() for p in leg["points"])
        # the stored capacity is the one recomputed from the run directories
        cap = capacity_of(data.legs[label].points, data.slos(), saturated=True)
        assert leg["capacity"]["qps"] == pytest.approx(cap.qps) and leg["capacity"]["kind"] == cap.kind
    assert (path / "pareto.png").stat().st_size > 10_000


def test_no_stop_runs_every_point(tmp_path: Path) -> None:
    runner = Runner(SPEEDS)
    sweep_spec = spec(stop_on_saturation=False, loads=(1, 4, 16))
    drive(tmp_path, sweep_spec, runner)
    assert len(runner.calls) == 6


def test_ctrl_c_keeps_what_was_measured(tmp_path: Path) -> None:
    runner = Runner(SPEEDS, fail_on=4, exc=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        drive(tmp_path, spec(), runner)
    raw = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert raw["status"] == "incomplete" and "interrupted" in raw["reason"]
    # the interrupted point ("on" at load 2) was saved by its runner: it is adopted, marked incomplete
    on = raw["sweep"]["legs"]["on"]["points"]
    assert [p["load"] for p in on] == [1, 2] and on[1]["status"] == "incomplete"
    assert [p["load"] for p in raw["sweep"]["legs"]["off"]["points"]] == [1, 2]
    # kept on disk and in sweep.json, but never planned on
    on_leg = read_sweep(tmp_path / "s").legs["on"]
    assert [p.load for p in on_leg.points] == [1] and [p.load for p in on_leg.incomplete] == [2]


def test_an_error_marks_the_sweep_incomplete_with_the_reason(tmp_path: Path) -> None:
    runner = Runner(SPEEDS, fail_on=3, exc=UserError("cannot reach http://127.0.0.1:2"))
    with pytest.raises(UserError):
        drive(tmp_path, spec(), runner)
    raw = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert raw["status"] == "incomplete" and "cannot reach" in raw["reason"]


def test_spec_rejects_bad_loads() -> None:
    for loads in ((), (2, 1), (1, 1), (0, 1), (1.5,), (1, math.inf)):
        with pytest.raises(ValueError):
            spec(loads=loads)
    wl, rate = spec(mode="rate", loads=(2.5,), max_concurrency=16).point(2.5)
    assert rate == 2.5 and wl.concurrency == 16 and wl.request_rates == [2.5] and wl.warmup == 8
    wl, rate = spec(loads=(4,)).point(4)
    assert math.isinf(rate) and wl.concurrency == 4 and wl.effective_warmup == 4


def test_plan_command_on_a_stored_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = drive(tmp_path, spec(), Runner(SPEEDS))
    args = ["--target-qps", "500", "--gpu-hour-cost", "2", "--n-boot", "200"]
    assert main(["plan", "--sweep", str(path), *args]) == 0
    plan = json.loads((path / "plan.json").read_text())
    out = capsys.readouterr().out
    assert "To serve 500 req/s" in out and (path / "plan.png").is_file()
    data = read_sweep(path)
    for label in ("on", "off"):
        qps = capacity_of(data.legs[label].points, data.slos(), saturated=True).qps
        assert qps is not None and plan["legs"][label]["replicas"] == math.ceil(500 / qps)
    # "on" is 0.8× as fast: the TEE overhead is positive and its CI says so
    assert plan["capacity_overhead"]["value_pct"] > 0 and plan["capacity_overhead"]["significant"]
    # other SLOs at plan time: a looser TTFT bound can only raise capacity
    out_dir = tmp_path / "loose"
    assert (
        main(
            [
                "plan",
                "--sweep",
                str(path),
                "--target-qps",
                "500",
                "--slo",
                "ttft_p99_ms=1000",
                "--n-boot",
                "0",
                "--out",
                str(out_dir),
            ]
        )
        == 0
    )
    loose = json.loads((out_dir / "plan.json").read_text())
    for label in ("on", "off"):
        assert loose["legs"][label]["capacity"]["qps"] >= plan["legs"][label]["capacity"]["qps"]


def test_plan_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--sweep", str(tmp_path), "--target-qps", "5"]) == 2
    assert "not a sweep directory" in capsys.readouterr().err
    assert main(["plan", "--sweep", str(tmp_path), "--target-qps", "0"]) == 2
    assert main(["plan", "--sweep", str(tmp_path), "--target-qps", "5", "--gpu-hour-cost", "on=1"]) == 2


def test_point_statistics_from_requests_match_the_summary(tmp_path: Path) -> None:
    frame = synthetic_frame(8, 1.0, n=57, seed=3)
    frame.loc[5, "ok"] = False
    frame.loc[5, "ttft_ms"] = 1e6  # a failed request's stamp must not count
    run = write_run(tmp_path, {"label": "on"}, requests=frame, summary=summarize(frame))
    p = point_from_run(run, 8, closed_loop=True)
    s = json.loads((run / "summary.json").read_text())
    for stem in ("ttft", "tpot", "e2el"):
        for stat in ("mean", "median", "p90", "p99"):
            assert p.value(SloStat(stem, stat)) == pytest.approx(s[f"{stat}_{stem}_ms"])
    assert p.error_rate == pytest.approx(1 / 57) and p.qps == s["request_throughput"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(math.nan)), min_size=5, max_size=5),
        min_size=1,
        max_size=6,
    ),
    st.floats(0, 100),
)
def test_vectorised_percentile_equals_numpy(rows: list[list[float]], q: float) -> None:
    a = np.array(rows, dtype=float)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: numpy warns, gives NaN
        expected = np.nanpercentile(a, q, axis=1)
    assert np.allclose(nanpercentile_rows(a, q), expected, equal_nan=True, rtol=1e-9, atol=1e-6)


def test_sweep_command_rejects_bad_input_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models.yaml"
    models.write_text("models:\n  m:\n    hf_id: x/m\n    served_name: m\n    engine: {name: external}\n")
    base = [
        "sweep",
        "--model",
        "m",
        "--models",
        str(models),
        "--tee-on",
        "http://127.0.0.1:9",
        "--out",
        str(tmp_path),
    ]
    for bad, message in [
        (["--concurrency", "4,2"], "must increase"),
        (["--concurrency", "1,x"], "not a number"),
        (["--concurrency", "1.5"], "whole number"),
        (["--rates", "0,1"], "positive"),
        (["--slo", "ttft_p99=abc"], "not a number"),
        (["--slo", "latency_p99_ms=5"], "--slo"),
        (["--num-requests", "0"], "--num-requests"),
        (["--patience", "0"], "--patience"),
    ]:
        assert main([*base, *bad]) == 2, bad
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (bad, err)
    assert [p.name for p in tmp_path.iterdir()] == ["models.yaml"]  # nothing was started or written


def test_repeats_interleave_and_pool_into_one_point(tmp_path: Path) -> None:
    runner = Runner(SPEEDS)
    sweep_spec = spec(loads=(1, 2), repeats=2)
    path = drive(tmp_path, sweep_spec, runner)
    # ABBA over (load, repeat): on off | off on | on off | off on
    assert runner.calls == [
        ("on", 1),
        ("off", 1),
        ("off", 1),
        ("on", 1),
        ("on", 2),
        ("off", 2),
        ("off", 2),
        ("on", 2),
    ]
    raw = json.loads((path / "sweep.json").read_text())
    data = read_sweep(path)
    for label in ("on", "off"):
        for rec, point in zip(raw["sweep"]["legs"][label]["points"], data.legs[label].points, strict=True):
            assert len(rec["runs"]) == 2 and point.runs == rec["runs"]
            summaries = [json.loads((path / r / "summary.json").read_text()) for r in rec["runs"]]
            assert point.qps == pytest.approx(np.mean([s["request_throughput"] for s in summaries]))
            assert rec["qps"] == pytest.approx(point.qps)
            assert point.samples is not None and len(point.samples.ok) == 80  # 2 × 40 requests pooled
