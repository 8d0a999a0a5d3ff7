"""`tee-llm-prof profile` end to end against two ground-truth servers (TEE on is slower by a
known amount), as a user or the service runs it: a subprocess, a models.yaml of its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiler.store import read_json, read_run
from profiler.validate import validate
from tests.support.servers import ROOT, gt_server
from tests.test_validate_checks import plain_host, with_nvml

pytestmark = pytest.mark.integration


def _models(tmp_path: Path, on: str, off: str, **workload: object) -> Path:
    wl = {"num_requests": 12, "concurrency": 4, "input_len": 16, "output_len": 8,
          "request_rates": ["inf"], "repeats": 2, **workload}
    path = tmp_path / "models.yaml"
    path.write_text(json.dumps({"models": {"gt": {
        "hf_id": "test/gt", "served_name": "gt-model", "endpoints": {"tee_on": on, "tee_off": off},
        "workload": wl,
    }}}))
    return path


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "profiler.cli", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "COLUMNS": "160"},
    )


def test_profile_two_legs_writes_runs_profile_and_comparison(tmp_path: Path) -> None:
    with (
        gt_server("--ttft-ms", "40", "--itl-ms", "8") as on,
        gt_server("--ttft-ms", "20", "--itl-ms", "4") as off,
    ):
        models = _models(tmp_path, on, off, request_rates=["inf", 40])
        # the TEE leg's evidence: a `validate --json` from a host with the GPU's CC off
        evidence = tmp_path / "on-validate.json"
        result = validate("on", ctx=with_nvml(plain_host(tmp_path / "host"), "h100_cc_off.json"))
        evidence.write_text(json.dumps(result))
        res = _cli("--model", "gt", "--models", str(models), "--out", str(tmp_path / "out"),
                   "--profile-id", "p1", "--no-report", "--leg-evidence", f"on={evidence}")
    assert res.returncode == 0, res.stderr
    assert "warning: leg 'on': its evidence" in res.stderr  # said before the first run
    prof = read_json(tmp_path / "out" / "p1" / "profile.json")
    assert prof["design"]["name"] == "abba" and prof["baseline"] == "off"
    assert prof["status"] == "complete" and prof["aa"] is False and prof["model"] == "gt"
    assert [p["name"] for p in prof["load_points"]] == ["rate=inf", "rate=40"]
    for point in prof["load_points"]:
        assert len(point["runs"]["on"]) == len(point["runs"]["off"]) == 2
        for label, expect_ttft in (("on", 40), ("off", 20)):
            for rel in point["runs"][label]:
                run = read_run(tmp_path / "out" / "p1" / rel)
                assert run.complete and run.label == label
                ref = run.manifest.experiment
                assert ref is not None and ref.id == "p1" and ref.point == point["name"] and ref.leg == label
                assert run.manifest.engine["name"] == "external"
                # ground truth: TTFT within +15 ms of the server's (loaded 2-core host)
                assert expect_ttft <= run.llm.get("mean_ttft_ms") < expect_ttft + 15
                assert run.llm.completed == 12
        comparison = read_json(tmp_path / "out" / "p1" / point["comparison"] / "comparison.json")
        ttft = next(m for m in comparison["metrics"] if m["metric"] == "mean_ttft_ms")
        assert ttft["overhead_pct"] > 50 and ttft["significant"]  # 40 ms vs 20 ms
        found = [w for w in comparison["warnings"] if w["code"] == "evidence"]
        assert {w["leg"] for w in found} == {"on"} and any("CC off" in w["message"] for w in found)
    on_run = read_run(tmp_path / "out" / "p1" / prof["load_points"][0]["runs"]["on"][0]).manifest
    off_run = read_run(tmp_path / "out" / "p1" / prof["load_points"][0]["runs"]["off"][0]).manifest
    assert on_run.evidence is not None and on_run.evidence.source == f"file: {evidence}"
    assert off_run.evidence is not None and off_run.evidence.source == "validate on this host"
    assert prof["legs"]["on"]["evidence"]["gpu_cc"] == "off"
    # two load points → the load curve over their comparisons (rows copied, not recomputed)
    curve = read_json(tmp_path / "out" / "p1" / "compare" / "load_curve.json")
    assert [p["name"] for p in curve["points"]] == ["rate=40", "rate=inf"]
    first = read_json(tmp_path / "out" / "p1" / prof["load_points"][0]["comparison"] / "comparison.json")
    ttft_row = next(m for m in first["metrics"] if m["metric"] == "mean_ttft_ms")
    at_inf = next(p for p in curve["points"] if p["name"] == "rate=inf")
    assert any(r["overhead_pct"] == ttft_row["overhead_pct"] for r in at_inf["metrics"])
    # both legs of a block got identical prompts; blocks differ
    reps = {(read_run(tmp_path / "out" / "p1" / rel).manifest.experiment.block, label): rel  # type: ignore[union-attr]
            for label in ("on", "off") for rel in prof["load_points"][0]["runs"][label]}
    seeds = {
        k: read_run(tmp_path / "out" / "p1" / v).manifest.model_dump()["workload"]["seed"]
        for k, v in reps.items()
    }
    assert seeds[(0, "on")] == seeds[(0, "off")] != seeds[(1, "on")] == seeds[(1, "off")]
    assert "Per-run summary" in res.stdout and "A/A" not in res.stdout


def test_one_endpoint_is_an_aa_calibration_said_in_words(tmp_path: Path) -> None:
    with gt_server("--ttft-ms", "10", "--itl-ms", "2") as url:
        models = _models(tmp_path, url, url, repeats=1)
        res = _cli(
            "--model",
            "gt",
            "--models",
            str(models),
            "--out",
            str(tmp_path),
            "--profile-id",
            "aa",
            "--no-report",
            "--num-requests",
            "8",
        )
    assert res.returncode == 0, res.stderr
    prof = read_json(tmp_path / "aa" / "profile.json")
    assert prof["aa"] is True and "A/A calibration" in prof["note"]
    assert "A/A calibration" in res.stdout
    run = read_run(tmp_path / "aa" / prof["load_points"][0]["runs"]["on"][0])
    assert run.llm.completed == 8  # --num-requests override reached the run


def test_bad_override_and_unknown_model_are_one_line_errors(tmp_path: Path) -> None:
    models = _models(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9")
    res = _cli("profile", "--model", "nope", "--models", str(models))
    assert res.returncode == 2 and res.stderr.strip() == "error: unknown model 'nope'; known models: gt"
    res = _cli("profile", "--model", "gt", "--models", str(models), "--concurrency", "0")
    assert res.returncode == 2 and "--concurrency" in res.stderr and res.stderr.count("\n") == 1
    assert "Traceback" not in res.stderr


def test_ctrl_c_keeps_measured_runs_and_marks_the_profile_incomplete(tmp_path: Path) -> None:
    # slow server: each run takes ~2 s, so the interrupt lands in the middle of the profile
    with gt_server("--ttft-ms", "50", "--itl-ms", "20") as url:
        models = _models(tmp_path, url, url, num_requests=40, output_len=20, repeats=4)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "profiler.cli",
                "--model",
                "gt",
                "--models",
                str(models),
                "--out",
                str(tmp_path),
                "--profile-id",
                "cc",
                "--no-report",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        profile = tmp_path / "cc" / "profile.json"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # one run done, the next one measuring
            listed = profile.exists() and read_json(profile)["load_points"][0]["runs"].get("on")
            started = list((tmp_path / "cc" / "runs").glob("*/manifest.json"))
            if listed and len(started) == 2:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    prof = read_json(profile)
    assert prof["status"] == "incomplete" and "interrupted" in prof["reason"]
    listed = [r for rs in prof["load_points"][0]["runs"].values() for r in rs]
    runs = sorted((tmp_path / "cc" / "runs").iterdir())
    # every run on disk is listed, the one cut short too (marked incomplete); the others complete
    assert sorted(str(r.relative_to(tmp_path / "cc")) for r in runs) == sorted(listed)
    cut = [read_run(r) for r in runs if not read_run(r).complete]
    assert len(cut) == 1 and cut[0].manifest.status == "incomplete" and len(runs) >= 2
    assert "interrupted" in err


def test_legs_at_once_two_directions_and_an_injected_leg(tmp_path: Path) -> None:
    """Legs at once on two servers (threads saving one index), two legs compared both ways,
    and a leg behind the proxy (not an A/A, though it reaches the same server)."""
    with (
        gt_server("--ttft-ms", "10", "--itl-ms", "3") as on,
        gt_server("--ttft-ms", "10", "--itl-ms", "2") as off,
    ):
        models = _models(tmp_path, on, off, repeats=4)
        res = _cli("--model", "gt", "--models", str(models), "--out", str(tmp_path), "--profile-id", "at",
                   "--no-report", "--legs-at-once", "--chain", "on,off")
        assert res.returncode == 0, res.stderr
        prof = read_json(tmp_path / "at" / "profile.json")
        point = prof["load_points"][0]
        assert prof["status"] == "complete"
        assert {k: len(v) for k, v in point["runs"].items()} == {"on": 4, "off": 4}
        starts: dict[int, list[int]] = {}
        for leg in ("on", "off"):
            for rel in point["runs"][leg]:
                m = read_run(tmp_path / "at" / rel).manifest
                assert m.experiment is not None
                wall = m.wall_anchor.wall_ns if m.wall_anchor else 0
                starts.setdefault(m.experiment.block, []).append(wall)
        assert all(abs(a - b) < 1e9 for a, b in starts.values())  # each block's legs ran together
        assert set(point["comparisons"]) == {"on-vs-off", "off-vs-on"}
        assert len(set(point["comparisons"].values())) == 2  # one directory each, none overwritten
        res = _cli("--model", "gt", "--models", str(models), "--out", str(tmp_path), "--profile-id", "inj",
                   "--no-report", "--repeats", "1", "--leg", f"off={off}",
                   "--inject", "slow=off:per_event_us=200")
    assert res.returncode == 0, res.stderr
    assert "A/A calibration" not in res.stderr and read_json(tmp_path / "inj" / "profile.json")["aa"] is False
