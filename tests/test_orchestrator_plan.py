"""The profile plan: ABBA order, load-point names, per-repeat seeds, profile.json, leg resolution."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from profiler.config import REPO_MODELS, Endpoints, WorkloadSpec, get_model
from profiler.errors import UserError
from profiler.orchestrator import (
    Leg,
    ProfileManifest,
    abba,
    is_aa,
    leg_workload,
    legs,
    point_name,
    read_profile,
)
from profiler.store import read_json


def test_abba_interleaves_repeats() -> None:
    assert abba(1) == [(0, "on"), (0, "off")]
    assert [label for _, label in abba(4)] == ["on", "off", "off", "on", "on", "off", "off", "on"]
    assert [r for r, _ in abba(3)] == [0, 0, 1, 1, 2, 2]


def test_point_names() -> None:
    assert point_name(math.inf) == "rate=inf"
    assert point_name(4.0) == "rate=4"
    assert point_name(0.5) == "rate=0.5"


def test_leg_workload_one_rate_one_repeat_own_seed() -> None:
    base = WorkloadSpec(request_rates=[1, 4, math.inf], repeats=3, seed=10)
    w = leg_workload(base, 4.0, 2)
    assert w.request_rates == [4.0] and w.repeats == 1 and w.seed == 12
    assert leg_workload(base, 4.0, 2) == w  # both legs of a repeat get the identical spec


def test_aa_detection() -> None:
    a = Leg("on", "http://h:1", "m")
    assert is_aa([a, Leg("off", "http://h:1/", "m")])
    assert not is_aa([a, Leg("off", "http://h:2", "m")])


def test_profile_manifest_contract(tmp_path: Path) -> None:
    on = Leg("on", "http://a", "m", {"name": "external"})
    off = Leg("off", "http://b", "m", {"name": "external"})
    wl = WorkloadSpec(request_rates=[1, math.inf], concurrency=4)
    m = ProfileManifest.create(tmp_path, "p1", model="tiny-llama", aa=False, legs_=[on, off], workload=wl)
    run = m.dir / "runs" / "r1"
    run.mkdir()
    m.add_run(1, "off", run)
    data = read_profile(tmp_path / "p1")
    assert data["kind"] == "profile" and data["schema_version"] == 1 and data["status"] == "running"
    assert data["profile_id"] == "p1" and data["model"] == "tiny-llama" and data["aa"] is False
    assert [p["name"] for p in data["load_points"]] == ["rate=1", "rate=inf"]
    assert data["load_points"][1] == {
        "name": "rate=inf", "request_rate": "inf", "concurrency": 4,
        "runs": {"on": [], "off": ["runs/r1"]}, "comparison": None,
    }
    m.finish("incomplete", "interrupted")
    data = read_json(tmp_path / "p1" / "profile.json")
    assert data["status"] == "incomplete" and data["reason"] == "interrupted" and data["finished"]
    with pytest.raises(UserError, match="already holds a profile"):
        ProfileManifest.create(tmp_path, "p1", model="x", aa=True, legs_=[on, on], workload=wl)


def test_external_model_without_endpoints_is_a_clear_error() -> None:
    entry = get_model("tiny-llama", REPO_MODELS)
    entry = entry.model_copy(update={"engine": entry.engine.model_copy(update={"name": "external"})})
    with pytest.raises(UserError, match="external engine"), legs(entry):
        pass


@pytest.mark.integration
def test_legs_from_urls_models_yaml_and_one_url(gt_url: str) -> None:
    from tests.support.servers import gt_server

    entry = get_model("tiny-llama", REPO_MODELS)
    with gt_server("--model", "tiny-llama") as other:
        with legs(entry, tee_on=gt_url, tee_off=other) as both:
            assert [leg.label for leg in both] == ["on", "off"] and not is_aa(both)
            assert both[0].base_url == gt_url and both[1].base_url == other
            assert both[1].served_model == "tiny-llama"
        from_yaml = entry.model_copy(update={"endpoints": Endpoints(tee_on=gt_url, tee_off=other)})
        with legs(from_yaml) as yaml_legs:
            assert [leg.base_url for leg in yaml_legs] == [gt_url, other]
        with legs(entry, tee_off=other) as single:  # one URL: an A/A calibration on it
            assert is_aa(single) and single[0].base_url == other


def test_cli_overrides_are_validated_like_models_yaml() -> None:
    import argparse

    from profiler.commands.profile import resolve_workload

    base = get_model("llama-3.1-8b", REPO_MODELS).workload
    args = argparse.Namespace(request_rates=["2", "inf"], num_requests=10, repeats=None, seed=None,
                              concurrency=None, input_len=None, output_len=None, dataset=None, api=None)
    w = resolve_workload(base, args)
    assert w.request_rates == [2.0, math.inf] and w.num_requests == 10 and w.repeats == base.repeats
    with pytest.raises(UserError, match="command line: num_requests"):
        resolve_workload(base, argparse.Namespace(**{**vars(args), "num_requests": 0}))
