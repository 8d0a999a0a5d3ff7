"""The experiment's plan: designs, load-point names, block seeds, the index file, leg resolution."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest

from profiler.config import REPO_MODELS, Endpoints, WorkloadSpec, get_model
from profiler.errors import UserError
from profiler.experiment.designs import DESIGNS
from profiler.experiment.engine import Experiment, RunTask
from profiler.experiment.legs import Leg, is_aa, resolve_legs
from profiler.experiment.profile import create_profile, point_name, profile_points
from profiler.flags import overrides, resolve_workload
from profiler.results.index import ProfileIndex
from profiler.store import read_json, write_run


def test_abba_alternates_blocks() -> None:
    abba = DESIGNS.get("abba")
    assert abba.orders(["on", "off"], 4) == [["on", "off"], ["off", "on"], ["on", "off"], ["off", "on"]]
    assert abba.orders(["on", "off"], 2, first_block=1) == [["off", "on"], ["on", "off"]]
    with pytest.raises(ValueError, match="at most 2 legs"):
        abba.check(["a", "b", "c"])


def test_point_names() -> None:
    assert point_name(math.inf) == "rate=inf"
    assert point_name(4.0) == "rate=4"
    assert point_name(0.5) == "rate=0.5"


def test_points_have_one_rate_and_one_repeat() -> None:
    base = WorkloadSpec(request_rates=[1, 4, math.inf], repeats=3, seed=10)
    points = profile_points(base)
    assert [p.name for p in points] == ["rate=1", "rate=4", "rate=inf"]
    assert all(p.workload.repeats == 1 and p.workload.request_rates == [p.request_rate] for p in points)


def test_aa_detection() -> None:
    a = Leg("on", "http://h:1", "m")
    assert is_aa([a, Leg("off", "http://h:1/", "m")])
    assert not is_aa([a, Leg("off", "http://h:2", "m")])


def test_profile_index_contract(tmp_path: Path) -> None:
    on = Leg("on", "http://a", "m", {"name": "external"})
    off = Leg("off", "http://b", "m", {"name": "external"})
    wl = WorkloadSpec(request_rates=[1, math.inf], concurrency=4)
    writer = create_profile(tmp_path, "p1", model="tiny-llama", legs=[on, off], workload=wl)
    run = writer.runs_dir / "r1"
    run.mkdir()
    writer.add_run("rate=inf", "off", run)
    data = read_json(tmp_path / "p1" / "profile.json")
    assert data["kind"] == "profile" and data["schema_version"] == 2 and data["status"] == "running"
    assert data["id"] == "p1" and data["model"] == "tiny-llama" and data["aa"] is False
    assert data["baseline"] == "off" and data["design"]["name"] == "abba"
    assert [p["name"] for p in data["load_points"]] == ["rate=1", "rate=inf"]
    point = data["load_points"][1]
    assert point["request_rate"] == "inf" and point["concurrency"] == 4
    assert point["runs"] == {"off": ["runs/r1"]} and point["comparison"] is None
    writer.finish("incomplete", "interrupted")
    index = ProfileIndex.load(tmp_path / "p1")
    assert index.status == "incomplete" and index.reason == "interrupted" and index.finished
    with pytest.raises(UserError, match="already holds a profile"):
        create_profile(tmp_path, "p1", model="x", legs=[on, on], workload=wl)


def test_blocks_share_a_seed_across_legs_and_alternate_order(tmp_path: Path) -> None:
    legs = [Leg("on", "http://a", "m"), Leg("off", "http://b", "m")]
    wl = WorkloadSpec(request_rates=[math.inf, 2], repeats=2, seed=10)
    writer = create_profile(tmp_path, "p", model="m", legs=legs, workload=wl)
    calls: list[tuple[str, str, int, int]] = []

    def executor(task: RunTask) -> Path:
        calls.append((task.point.name, task.leg.name, task.block, task.workload.seed))
        return write_run(task.runs_dir, {"label": task.leg.name, "experiment": task.experiment})

    Experiment(writer, legs, profile_points(wl), executor, blocks=2).run()
    # ABBA over the whole experiment: on off | off on | on off | off on
    assert [c[1] for c in calls] == ["on", "off", "off", "on", "on", "off", "off", "on"]
    # both legs of a block get the same seed (identical prompts); blocks differ
    assert [c[3] for c in calls] == [10, 10, 11, 11, 10, 10, 11, 11]
    index = ProfileIndex.load(tmp_path / "p")
    assert index.status == "complete"
    assert all(len(p.runs["on"]) == len(p.runs["off"]) == 2 for p in index.load_points)


def test_external_model_without_endpoints_is_a_clear_error() -> None:
    entry = get_model("tiny-llama", REPO_MODELS)
    entry = entry.model_copy(update={"engine": entry.engine.model_copy(update={"name": "external"})})
    with pytest.raises(UserError, match="external engine"), resolve_legs(entry):
        pass


@pytest.mark.integration
def test_legs_from_urls_models_yaml_and_one_url(gt_url: str) -> None:
    from tests.support.servers import gt_server

    entry = get_model("tiny-llama", REPO_MODELS)
    with gt_server("--model", "tiny-llama") as other:
        with resolve_legs(entry, tee_on=gt_url, tee_off=other) as both:
            assert [leg.name for leg in both] == ["on", "off"] and not is_aa(both)
            assert both[0].base_url == gt_url and both[1].base_url == other
            assert both[1].served_model == "tiny-llama"
        from_yaml = entry.model_copy(update={"endpoints": Endpoints(tee_on=gt_url, tee_off=other)})
        with resolve_legs(from_yaml) as yaml_legs:
            assert [leg.base_url for leg in yaml_legs] == [gt_url, other]
        with resolve_legs(entry, tee_off=other) as single:  # one URL: an A/A calibration on it
            assert is_aa(single) and single[0].base_url == other


def test_cli_overrides_are_validated_like_models_yaml() -> None:
    base = get_model("llama-3.1-8b", REPO_MODELS).workload
    args = argparse.Namespace(request_rates=[2.0, math.inf], num_requests=10, repeats=None, seed=None)
    w = resolve_workload(base, overrides(args))
    assert w.request_rates == [2.0, math.inf] and w.num_requests == 10 and w.repeats == base.repeats
    with pytest.raises(UserError, match="--num-requests"):
        resolve_workload(base, overrides(argparse.Namespace(**{**vars(args), "num_requests": 0})))
