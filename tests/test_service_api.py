"""The HTTP API over real loopback HTTP (aiohttp test server on 127.0.0.1) and a real SQLite file.

The queue is paused here so no profile starts: these tests are about the API's contract (auth,
validation, status codes, files, dashboard access). Profiles really running are in
tests/integration/test_service_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from profiler.errors import UserError
from profiler.service import ServiceConfig, create_app
from profiler.service.app import SERVICE
from profiler.service.auth import COOKIE, SESSION_TTL_S, Auth
from profiler.service.openapi import spec

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

MODELS = """\
models:
  gt:
    hf_id: gt/model
    served_name: gt-model
    engine: {name: external}
    endpoints: {tee_on: "http://127.0.0.1:9", tee_off: "http://127.0.0.1:9"}
    workload: {num_requests: 4, concurrency: 2, request_rates: [inf, 2], repeats: 2}
  other:
    hf_id: other/model
    served_name: other
"""

Body = Callable[[TestClient[Any, Any]], Awaitable[None]]


def _serve(tmp_path: Path, body: Body, **config: Any) -> None:
    models = tmp_path / "models.yaml"
    models.write_text(MODELS)
    cfg = ServiceConfig(
        data_dir=tmp_path / "data", token=TOKEN, models_path=models, paused=True, **config
    )

    async def go() -> None:
        app = create_app(cfg)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await body(client)

    asyncio.run(go())


async def _submit(client: TestClient[Any, Any], body: Any) -> Any:
    r = await client.post("/api/profiles", json=body, headers=AUTH)
    return r.status, await r.json()


API_GETS = [
    "/api/profiles",
    "/api/profiles/x",
    "/api/profiles/x/log",
    "/api/runs/x",
    "/api/runs/x/report",
    "/api/runs/x/files/profile.json",
    "/api/validate",
    "/api/queue",
    "/api/openapi.json",
]


def test_every_api_route_needs_the_token(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                        {"Authorization": f"Basic {TOKEN}"}):  # fmt: skip
            for path in API_GETS:
                r = await client.get(path, headers=headers)
                assert r.status == 401, (path, headers)
                assert r.headers["WWW-Authenticate"].startswith("Bearer")
                assert "token" in (await r.json())["error"]
            for method, path in [("POST", "/api/profiles"), ("DELETE", "/api/profiles/x"),
                                 ("POST", "/api/queue/pause")]:  # fmt: skip
                r = await client.request(method, path, headers=headers, json={"model": "gt"})
                assert r.status == 401, (method, path)
        # liveness and service metrics are open (they carry no results)
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/metrics")).status == 200

    _serve(tmp_path, body)


def test_submit_list_get_cancel(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        status, data = await _submit(client, {"model": "gt", "num_requests": 3})
        assert status == 202 and data["status"] == "queued"
        job_id = data["id"]
        r = await client.get(f"/api/profiles/{job_id}", headers=AUTH)
        job = await r.json()
        assert job["status"] == "queued" and job["request"]["num_requests"] == 3
        assert job["progress"] == {"runs_expected": 8}  # 2 rates × 2 repeats × 2 legs
        r = await client.get("/api/profiles", headers=AUTH)
        assert [p["id"] for p in (await r.json())["profiles"]] == [job_id]
        metrics = await (await client.get("/metrics")).text()
        assert 'tee_llm_prof_jobs{status="queued"} 1' in metrics
        assert "tee_llm_prof_queue_paused 1" in metrics

        r = await client.delete(f"/api/profiles/{job_id}", headers=AUTH)
        assert r.status == 200 and (await r.json())["status"] == "cancelled"
        r = await client.delete(f"/api/profiles/{job_id}", headers=AUTH)
        assert r.status == 409 and "already ended" in (await r.json())["error"]
        assert (await client.delete("/api/profiles/nope", headers=AUTH)).status == 404
        assert (await client.get("/api/profiles/nope", headers=AUTH)).status == 404
        r = await client.get("/api/profiles?status=cancelled", headers=AUTH)
        assert len((await r.json())["profiles"]) == 1
        assert (await client.get("/api/profiles?status=bogus", headers=AUTH)).status == 400
        metrics = await (await client.get("/metrics")).text()
        assert 'tee_llm_prof_jobs{status="cancelled"} 1' in metrics

    _serve(tmp_path, body)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"{not json", "invalid JSON at line 1 column 2"),
        (b"", "empty body"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"model": "gt", "tee_on": "http://10.1.2.3:8000"}', "'tee_on' is not accepted"),
        (b'{"model": "gt", "dataset": "http://evil.example/x"}', "URLs are not accepted"),
        (b'{"model": "gt", "extra": 1}', "extra: unknown field"),
        (b'{"model": "nope"}', "unknown model 'nope'; known models: gt, other"),
        (b'{"model": "gt", "num_requests": -1}', "num_requests"),
    ],
)
def test_bad_submissions_are_400_with_a_message(tmp_path: Path, raw: bytes, needle: str) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        r = await client.post("/api/profiles", data=raw, headers=AUTH)
        assert r.status == 400
        assert needle in (await r.json())["error"]
        r = await client.get("/api/profiles", headers=AUTH)
        assert (await r.json())["profiles"] == []  # nothing was queued

    _serve(tmp_path, body)


def test_body_size_is_limited(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        big = json.dumps({"model": "gt", "pad": "x" * 10_000}).encode()
        r = await client.post("/api/profiles", data=big, headers=AUTH)
        assert r.status == 413
        assert "error" in await r.json()

    _serve(tmp_path, body, max_body=4096)


def test_files_never_leave_the_run_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    prof = data / "profiles" / "p-1"
    run = prof / "runs" / "r-on-1"
    run.mkdir(parents=True)
    (prof / "profile.json").write_text(json.dumps({"status": "complete", "load_points": []}))
    (run / "manifest.json").write_text(json.dumps({"run_id": "r-on-1", "status": "complete"}))
    (run / "summary.json").write_text("{}")
    (data / "secret.txt").write_text("do not serve")

    async def body(client: TestClient[Any, Any]) -> None:
        r = await client.get("/api/runs/p-1/files/profile.json", headers=AUTH)
        assert r.status == 200 and (await r.json())["status"] == "complete"
        r = await client.get("/api/runs/r-on-1/files/summary.json", headers=AUTH)
        assert r.status == 200
        r = await client.get("/api/runs/p-1/files/runs/r-on-1/summary.json", headers=AUTH)
        assert r.status == 200
        r = await client.get("/api/runs/p-1", headers=AUTH)
        info = await r.json()
        assert info["kind"] == "profile" and "runs/r-on-1/manifest.json" in info["files"]
        r = await client.get("/api/runs/r-on-1", headers=AUTH)
        assert (await r.json())["kind"] == "run"
        for bad in ["../../secret.txt", "..%2F..%2Fsecret.txt", "%2e%2e/%2e%2e/secret.txt",
                    "runs/../../../secret.txt", "/etc/passwd", ".%2e/secret.txt"]:  # fmt: skip
            r = await client.get(f"/api/runs/p-1/files/{bad}", headers=AUTH)
            assert r.status == 404, bad
            assert b"do not serve" not in await r.read()
        for bad_id in ["..", "%2e%2e", "p-1%2F..", "nope"]:
            r = await client.get(f"/api/runs/{bad_id}/files/secret.txt", headers=AUTH)
            assert r.status == 404, bad_id

    _serve(tmp_path, body)


def test_sessions_expire() -> None:
    now = [1000.0]
    auth = Auth(TOKEN, ttl_s=60, clock=lambda: now[0])
    sid = auth.new_session()
    assert auth.session_ok(sid) and not auth.session_ok("forged") and not auth.session_ok(TOKEN)
    now[0] += 59
    assert auth.session_ok(sid)
    now[0] += 2
    assert not auth.session_ok(sid)


def test_symlinked_directories_are_not_followed_out_of_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    outside = tmp_path / "outside"
    (outside / "runs" / "r-x").mkdir(parents=True)
    (outside / "profile.json").write_text(json.dumps({"status": "complete"}))
    (outside / "runs" / "r-x" / "manifest.json").write_text(json.dumps({"run_id": "r-x"}))
    (outside / "passwd").write_text("root:x:0:0")
    (outside / "runs" / "r-x" / "passwd").write_text("root:x:0:0")
    prof = data / "profiles" / "p-1"
    (prof / "runs").mkdir(parents=True)
    (prof / "profile.json").write_text(json.dumps({"status": "complete", "load_points": []}))
    (prof / "runs" / "r-link").symlink_to(outside / "runs" / "r-x")  # a run dir pointing out
    (data / "profiles" / "p-link").symlink_to(outside)  # a profile dir pointing out

    async def body(client: TestClient[Any, Any]) -> None:
        for url in ["/api/runs/r-link/files/passwd", "/api/runs/p-link/files/passwd",
                    "/api/runs/r-link", "/api/runs/p-link", "/api/runs/p-link/files/profile.json"]:
            r = await client.get(url, headers=AUTH)
            assert r.status == 404, url
            assert b"root:x" not in await r.read()

    _serve(tmp_path, body)


@pytest.mark.parametrize("content", ["[1, 2]", "null", "42", "{broken", ""])
def test_corrupt_files_are_4xx_with_the_reason(tmp_path: Path, content: str) -> None:
    data = tmp_path / "data"
    prof = data / "profiles" / "p-1"
    run = prof / "runs" / "r-on-1"
    run.mkdir(parents=True)
    (prof / "profile.json").write_text(content)
    (run / "manifest.json").write_text(content)

    async def body(client: TestClient[Any, Any]) -> None:
        for url in ["/api/runs/p-1", "/api/runs/r-on-1", "/api/runs/p-1/report?force=1",
                    "/api/runs/r-on-1/report?force=1", "/api/profiles", "/"]:
            r = await client.get(url, headers=AUTH)
            assert r.status < 500, (url, r.status, await r.text())
        for url in ["/api/runs/p-1", "/api/runs/r-on-1"]:
            r = await client.get(url, headers=AUTH)
            assert r.status == 422 and "json" in (await r.json())["error"], url

    _serve(tmp_path, body)


def test_dashboard_shows_nothing_without_the_token(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        _, data = await _submit(client, {"model": "gt"})
        job_id = data["id"]
        r = await client.get("/")
        page = await r.text()
        assert r.status == 401 and "Token" in page and job_id not in page
        r = await client.get("/?token=wrong")
        assert r.status == 401 and job_id not in await r.text()
        r = await client.get(f"/?token={TOKEN}", allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/"
        cookie = r.cookies[COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        assert TOKEN not in cookie.value  # the cookie is derived, not the token itself
        jar = {COOKIE: cookie.value}
        r = await client.get("/", cookies=jar)
        page = await r.text()
        assert r.status == 200 and job_id in page and "queued" in page
        # the cookie opens read-only API links, never state changes (no CSRF)
        assert (await client.get("/api/profiles", cookies=jar)).status == 200
        r = await client.post("/api/profiles", json={"model": "gt"}, cookies=jar)
        assert r.status == 401
        assert (await client.delete(f"/api/profiles/{job_id}", cookies=jar)).status == 401
        # the login form opens a session of its own
        r = await client.post("/login", data={"token": TOKEN}, allow_redirects=False)
        assert r.status == 303 and r.cookies[COOKIE].value != cookie.value
        assert r.cookies[COOKIE]["max-age"] == str(SESSION_TTL_S)
        second = {COOKIE: r.cookies[COOKIE].value}
        r = await client.post("/login", data={"token": "nope"}, allow_redirects=False)
        assert r.status == 401
        # sign-out revokes that session on the server: replaying the old cookie opens nothing
        r = await client.get("/logout", cookies=jar, allow_redirects=False)
        assert r.status == 303
        assert (await client.get("/", cookies=jar)).status == 401
        assert (await client.get("/api/profiles", cookies=jar)).status == 401
        assert (await client.get("/api/profiles", cookies=second)).status == 200  # others live on

    _serve(tmp_path, body)


def test_openapi_describes_every_route(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        r = await client.get("/api/openapi.json", headers=AUTH)
        doc = await r.json()
        assert doc["openapi"].startswith("3.")
        app_paths = {
            res.canonical.replace("{name:.+}", "{name}")
            for res in client.app.router.resources()
        }
        described = set(doc["paths"]) | {"/api/openapi.json", "/", "/login", "/logout"}
        assert app_paths <= described, app_paths - described
        body_schema = doc["components"]["schemas"]["ProfileRequest"]
        assert body_schema["additionalProperties"] is False
        assert "tee_on" not in body_schema["properties"]

    _serve(tmp_path, body)
    assert spec()["paths"]["/healthz"]["get"]["security"] == []


def test_queue_pause_and_resume(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        r = await client.get("/api/queue", headers=AUTH)
        assert (await r.json())["paused"] is True
        r = await client.post("/api/queue/pause", headers=AUTH)
        assert (await r.json())["paused"] is True
        # resume would start real jobs; the e2e test covers that path

    _serve(tmp_path, body)


def test_unknown_routes_and_methods_are_4xx_json(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        r = await client.get("/nope")
        assert r.status == 404 and "error" in await r.json()
        r = await client.put("/api/profiles", headers=AUTH, data=b"{}")
        assert r.status == 405 and "error" in await r.json()

    _serve(tmp_path, body)


def test_validate_reports_the_cc_checks(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        r = await client.get("/api/validate?expect=off", headers=AUTH)
        assert r.status == 200
        result = await r.json()
        assert result["expect"] == "off" and result["checks"]
        assert {c["status"] for c in result["checks"]} <= {"pass", "fail", "unknown"}
        assert "verdict" in result and isinstance(result["exit_code"], int)
        r = await client.get("/api/validate?expect=maybe", headers=AUTH)
        assert r.status == 400

    _serve(tmp_path, body)


def test_no_report_rendering_while_a_profile_measures(tmp_path: Path) -> None:
    prof = tmp_path / "data" / "profiles" / "p-2"
    prof.mkdir(parents=True)
    (prof / "profile.json").write_text(json.dumps({"status": "complete", "load_points": []}))

    async def body(client: TestClient[Any, Any]) -> None:
        assert client.app is not None
        client.app[SERVICE].runner.current = "p-busy"  # as while the runner has a job
        r = await client.get("/api/runs/p-2/report", headers=AUTH)
        assert r.status == 409 and "perturb" in (await r.json())["error"]
        # an up-to-date report is only a file read: served, with a restrictive CSP
        (prof / "report.html").write_text("<html><body>report</body></html>")
        r = await client.get("/api/runs/p-2/report", headers=AUTH)
        assert r.status == 200 and "report" in await r.text()
        assert "default-src 'none'" in r.headers["Content-Security-Policy"]
        # newer results make it stale again
        (prof / "profile.json").touch()
        os.utime(prof / "report.html", (1, 1))
        r = await client.get("/api/runs/p-2/report", headers=AUTH)
        assert r.status == 409

    _serve(tmp_path, body)


def test_one_service_per_data_directory(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        second = ServiceConfig(data_dir=tmp_path / "data", token=TOKEN,
                               models_path=tmp_path / "models.yaml")  # fmt: skip
        with pytest.raises(UserError, match=r"another tee-llm-prof service \(pid \d+\)"):
            create_app(second)

    _serve(tmp_path, body)
    # released when the first one stopped
    again = create_app(ServiceConfig(data_dir=tmp_path / "data", token=TOKEN,
                                     models_path=tmp_path / "models.yaml"))  # fmt: skip
    again[SERVICE].store.close()
    os.close(again[SERVICE].lock_fd)
