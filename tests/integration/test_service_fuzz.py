"""Fuzz the real service (a `tee-llm-prof serve` subprocess, real SQLite) over loopback HTTP.

Hypothesis throws malformed and hostile requests at every route: random JSON and raw bytes as
bodies, odd content types, traversal-looking ids and file names, wrong tokens, wrong methods.
Nothing may crash the service: no 5xx, no traceback in its log, /healthz still answers, and
no request carrying a URL or an unknown key is ever queued. The queue is paused so accepted
submissions only wait.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiler.service.schemas import ProfileRequest
from tests.support.service_proc import Service, service

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODELS = """\
models:
  gt:
    hf_id: gt/model
    served_name: gt-model
    engine: {name: external}
    endpoints: {tee_on: "http://127.0.0.1:9", tee_off: "http://127.0.0.1:9"}
"""


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("svc-fuzz")
    (root / "models.yaml").write_text(MODELS)
    with service(root / "data", root / "models.yaml", "--paused") as s:
        yield s
    log = s.log.read_text()
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]


_keys = st.sampled_from([*ProfileRequest.model_fields, "tee_on", "endpoint", "url"]) | st.text(
    max_size=10
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["gt", "inf", "http://169.254.169.254/", "../../etc/passwd", "random"])
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=6),
    max_leaves=25,
)
_bodies = (
    st.dictionaries(_keys, _json, max_size=6).map(lambda d: json.dumps(d).encode())
    | _json.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=300)
    | st.sampled_from([b"{", b"\xff\xfe{}", b'{"model": "gt"' * 50, b"[" * 5000, b"null"])
)
_segment = st.sampled_from(
    ["x", "..", "%2e%2e", "%2F", "profile.json", "p-1", "%00", "a" * 300, "~", "%ff"]
) | st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="?#"),
            min_size=1, max_size=12)  # fmt: skip
_paths = st.one_of(
    st.sampled_from(["/api/profiles", "/api/queue", "/api/validate", "/api/openapi.json", "/",
                     "/login", "/healthz", "/metrics", "/api"]),
    _segment.map(lambda s: f"/api/profiles/{s}"),
    _segment.map(lambda s: f"/api/profiles/{s}/log"),
    st.tuples(_segment, _segment).map(lambda t: f"/api/runs/{t[0]}/files/{t[1]}"),
    _segment.map(lambda s: f"/api/runs/{s}/report"),
)
_ctypes = st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded",
     "multipart/form-data; boundary=zz", "application/json; charset=latin-1", ""]
)


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH"]),
    path=_paths,
    body=_bodies,
    ctype=_ctypes,
    token=st.sampled_from(["default", None, "wrong", ""]),
)
def test_nothing_crashes_the_service(
    svc: Service, method: str, path: str, body: bytes, ctype: str, token: str | None
) -> None:
    headers = {"Content-Type": ctype} if ctype else {}
    status, _, raw = svc.raw(method, path, body=body, headers=headers, token=token)
    assert status < 500, (method, path, body[:200], status, raw[:300])
    if path.startswith("/api") and token != "default":
        assert status in (400, 401, 404, 405), (method, path, status)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=_bodies, ctype=_ctypes)
def test_submissions_with_the_token(svc: Service, body: bytes, ctype: str) -> None:
    """The route that parses client data, with the right token: 202 or a clean 4xx."""
    headers = {"Content-Type": ctype} if ctype else {}
    status, headers_out, raw = svc.raw("POST", "/api/profiles", body=body, headers=headers)
    assert status in (202, 400, 413), (body[:200], status, raw[:300])
    assert headers_out["content-type"].startswith("application/json")
    message = json.loads(raw)
    assert ("id" in message) if status == 202 else message["error"]


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(["GET", "DELETE"]),
    path=_paths.filter(lambda p: p.startswith("/api/")),
)
def test_lookups_with_the_token(svc: Service, method: str, path: str) -> None:
    status, _, raw = svc.raw(method, path)
    assert status < 500, (method, path, status, raw[:300])


def test_service_survived_and_queued_only_clean_requests(svc: Service) -> None:
    # runs after the fuzzing above (same module, same service)
    status, health = svc.call("GET", "/healthz")
    assert status == 200 and health["status"] == "ok"
    status, data = svc.call("GET", "/api/profiles")
    assert status == 200
    for job in data["profiles"]:
        req: dict[str, Any] = job["request"]
        assert job["model"] == "gt" and set(req) <= set(ProfileRequest.model_fields)
        assert "://" not in json.dumps(req)
    assert svc.proc.poll() is None


def test_schema_driven_bodies_are_accepted(svc: Service) -> None:
    """The other direction: well-formed bodies (per the OpenAPI schema) must be accepted."""
    status, doc = svc.call("GET", "/api/openapi.json")
    assert status == 200
    props = doc["components"]["schemas"]["ProfileRequest"]["properties"]
    assert {"model", "num_requests", "request_rates"} <= set(props)
    good = {"model": "gt", "num_requests": 3, "concurrency": 2, "request_rates": [1, "inf"],
            "input_len": 8, "output_len": 4, "repeats": 1, "seed": 1, "api": "chat"}  # fmt: skip
    status, data = svc.call("POST", "/api/profiles", good)
    assert status == 202, data
    status, job = svc.call("GET", f"/api/profiles/{data['id']}")
    assert job["status"] == "queued" and job["request"] == good
    status, _ = svc.call("DELETE", f"/api/profiles/{data['id']}")
    assert status == 200


def test_wrong_token_and_no_token_never_see_data(svc: Service) -> None:
    for token in (None, "wrong", svc.token + "x", svc.token[:-1]):
        status, _, raw = svc.raw("GET", "/api/profiles", token=token)
        assert status == 401 and b"profiles" not in raw
    status, _, page = svc.raw("GET", "/", token=None)
    assert status == 401 and b"p-20" not in page


