"""What the service accepts: strict profile requests, the SSRF guard, JSON errors, safe files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiler.config import ModelEntry
from profiler.service.results import safe_file
from profiler.service.schemas import (
    BadRequest,
    ProfileRequest,
    parse_json_body,
    parse_profile_request,
    resolve_workload,
)


def test_a_good_request_keeps_only_what_was_set() -> None:
    req = parse_profile_request(
        {"model": "tiny-llama", "num_requests": 20, "request_rates": [1, 4.5, "inf"]}
    )
    assert req.model == "tiny-llama"
    assert req.overrides() == {"num_requests": 20, "request_rates": [1, 4.5, "inf"]}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": "m", "tee_on": "http://10.0.0.1:8000"}, "'tee_on' is not accepted"),
        ({"model": "m", "endpoint": "x"}, "'endpoint' is not accepted"),
        ({"model": "m", "TEE_OFF": "x"}, "'TEE_OFF' is not accepted"),
        ({"model": "http://169.254.169.254/latest"}, "URLs are not accepted"),
        ({"model": "m", "dataset": "sharegpt:file:///etc/passwd"}, "dataset: URLs"),
        ({"model": "m", "notes": ["a", {"x": "https://evil.example"}]}, "notes[1].x: URLs"),
        ({"model": "m", "bogus": 1}, "bogus: unknown field"),
        ({"model": "m", "num_requests": "5"}, "num_requests"),
        ({"model": "m", "num_requests": True}, "num_requests"),
        ({"model": "m", "num_requests": 0}, "num_requests"),
        ({"model": "m", "concurrency": 10**9}, "concurrency"),
        ({"model": "m", "request_rates": []}, "request_rates"),
        ({"model": "m", "request_rates": [0]}, "request rates must be > 0"),
        ({"model": "m", "request_rates": ["fast"]}, "request_rates"),
        ({"model": "m", "dataset": "sharegpt:/etc/passwd"}, "dataset"),
        ({"model": "../../etc"}, "model"),
        ({"model": ""}, "model"),
        ({}, "model: Field required"),
    ],
)
def test_bad_requests_say_what_is_wrong(body: dict[str, Any], needle: str) -> None:
    with pytest.raises(BadRequest) as err:
        parse_profile_request(body)
    assert needle in str(err.value)


@pytest.mark.parametrize("body", [[], "x", 3, None, True])
def test_only_objects(body: Any) -> None:
    with pytest.raises(BadRequest, match="expected a JSON object"):
        parse_profile_request(body)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"", "empty body"),
        (b"  \n", "empty body"),
        (b"{", "invalid JSON at line 1 column 2"),
        (b'{"model": "m",}', "invalid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_bad_json_is_a_clear_400(raw: bytes, needle: str) -> None:
    with pytest.raises(BadRequest, match=needle.replace("(", r"\(")):
        parse_json_body(raw)


def test_overrides_are_validated_against_the_model_defaults() -> None:
    entry = ModelEntry.model_validate(
        {"hf_id": "x/y", "served_name": "y", "workload": {"num_requests": 7, "repeats": 2}}
    )
    wl = resolve_workload(entry, parse_profile_request({"model": "y", "concurrency": 3}))
    assert (wl.num_requests, wl.repeats, wl.concurrency) == (7, 2, 3)
    wl = resolve_workload(entry, parse_profile_request({"model": "y", "request_rates": ["inf"]}))
    assert wl.request_rates == [float("inf")]


# Anything JSON can carry, with the real field names mixed in so validation goes deep.
_keys = st.sampled_from([*ProfileRequest.model_fields, "tee_on", "url", "x"]) | st.text(max_size=8)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_keys, _json, max_size=6) | _json)
def test_any_json_is_accepted_or_refused_cleanly(body: Any) -> None:
    try:
        req = parse_profile_request(body)
    except BadRequest as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(req, ProfileRequest)
    assert "://" not in json.dumps(req.model_dump())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_refuse_cleanly(raw: bytes) -> None:
    try:
        value = parse_json_body(raw)
    except BadRequest as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert value == json.loads(raw)


def test_safe_file_stays_inside(tmp_path: Path) -> None:
    base = tmp_path / "run"
    (base / "plots").mkdir(parents=True)
    (base / "summary.json").write_text("{}")
    (base / "plots" / "ttft.png").write_bytes(b"png")
    (base / ".hidden").write_text("x")
    (base / "x.json.tmp").write_text("x")
    (tmp_path / "secret.txt").write_text("s")
    os.symlink(tmp_path / "secret.txt", base / "link.txt")
    assert safe_file(base, "summary.json") == (base / "summary.json").resolve()
    assert safe_file(base, "plots/ttft.png") is not None
    for bad in ["../secret.txt", "plots/../../secret.txt", "/etc/passwd", "link.txt", ".hidden",
                "x.json.tmp", "plots", "", "plots//ttft.png", "./summary.json", "a\\b", "nope"]:  # fmt: skip
        assert safe_file(base, bad) is None, bad
