"""The JSON API (every route under /api needs the token; see auth.py) plus /healthz and /metrics.

    POST   /api/profiles                 submit {"model": KEY, ...workload overrides} → 202 + id
    GET    /api/profiles                 all jobs, newest first
    GET    /api/profiles/{id}            status, progress, and per load point the overheads
    DELETE /api/profiles/{id}            cancel (what was measured is kept, marked incomplete)
    GET    /api/profiles/{id}/log        the profile's output (text)
    GET    /api/runs/{id}                a profile or run directory: manifest and file list
    GET    /api/runs/{id}/report         HTML report (rendered on demand, then cached)
    GET    /api/runs/{id}/files/{name}   one file of that directory (parquet, JSON, PNG, ...)
    GET    /api/validate                 CC-mode validation of this host
    GET    /api/queue                    paused?, running job, counts
    POST   /api/queue/pause|resume       stop / restart taking new jobs (the running one goes on)
    GET    /healthz                      liveness (no token)
    GET    /metrics                      Prometheus text about the service itself (no token)
"""

from __future__ import annotations

import asyncio
import json
import math
import mimetypes
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from profiler import __version__
from profiler.config import load_models
from profiler.errors import UserError
from profiler.service import jobs as J
from profiler.service.app import SERVICE, Service, json_error
from profiler.service.results import expected_runs, list_files, run_progress, safe_file
from profiler.service.schemas import (
    BadRequest,
    parse_json_body,
    parse_profile_request,
    resolve_workload,
)
from profiler.store import MANIFEST, PROFILE, read_json

routes = web.RouteTableDef()
# Reports are self-contained HTML (inline CSS, data: images, no script): let them do no more,
# since they are served on the same origin as the dashboard.
REPORT_CSP = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src data: 'self'; frame-ancestors 'none'",
}
_RENDER_LOCK = threading.Lock()


def setup(app: web.Application) -> None:
    app.add_routes(routes)


def _svc(request: web.Request) -> Service:
    return request.app[SERVICE]


def _finite(obj: Any) -> Any:
    """NaN/inf are not JSON: null (as the run store writes them)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _json(data: Any, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(_finite(data), indent=1, default=str, allow_nan=False),
        content_type="application/json",
        headers=headers,
    )


# --------------------------------------------------------------------------- health, metrics


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    svc = _svc(request)
    return _json({"status": "ok", "version": __version__, "running": svc.runner.current})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    svc = _svc(request)
    counts = svc.store.counts()
    lines = [
        "# HELP tee_llm_prof_jobs Profile jobs known to the service, by status.",
        "# TYPE tee_llm_prof_jobs gauge",
    ]
    lines += [f'tee_llm_prof_jobs{{status="{s}"}} {counts[s]}' for s in J.STATUSES]
    lines += [
        "# HELP tee_llm_prof_queue_paused 1 while the queue takes no new jobs.",
        "# TYPE tee_llm_prof_queue_paused gauge",
        f"tee_llm_prof_queue_paused {int(svc.runner.paused)}",
        "# HELP tee_llm_prof_info Version of the service.",
        "# TYPE tee_llm_prof_info gauge",
        f'tee_llm_prof_info{{version="{__version__}"}} 1',
    ]
    return web.Response(
        text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )  # fmt: skip


# --------------------------------------------------------------------------- profiles


@routes.post("/api/profiles")
async def submit(request: web.Request) -> web.Response:
    svc = _svc(request)
    body = parse_json_body(await request.read())
    req = parse_profile_request(body)
    try:
        models = await asyncio.to_thread(load_models, svc.config.models_path)
    except UserError as exc:  # the service's own models.yaml is broken: not the client's fault
        return json_error(503, f"the service's models.yaml cannot be used: {exc}")
    if req.model not in models:
        raise BadRequest(f"unknown model {req.model!r}; known models: {', '.join(sorted(models))}")
    workload = resolve_workload(models[req.model], req)
    job = svc.store.submit(req.model, req.model_dump(exclude_none=True))
    svc.store.set_progress(
        job.id,
        {"runs_expected": expected_runs(len(workload.request_rates), workload.repeats)},
    )
    svc.runner.wake()
    return _json(
        {"id": job.id, "status": job.status, "links": _links(job.id)},
        status=202,
        Location=f"/api/profiles/{job.id}",
    )


@routes.get("/api/profiles")
async def list_profiles(request: web.Request) -> web.Response:
    svc = _svc(request)
    status = request.query.get("status")
    if status is not None and status not in J.STATUSES:
        raise BadRequest(f"unknown status {status!r}; known: {', '.join(J.STATUSES)}")
    return _json({"profiles": [j.public() for j in svc.store.list_jobs(status)]})


@routes.get("/api/profiles/{id}")
async def get_profile(request: web.Request) -> web.Response:
    svc = _svc(request)
    job = _job_or_404(svc, request.match_info["id"])
    out = job.public()
    profile = svc.results.profile(job.id)
    out["result"] = None
    if profile is not None:
        out["result"] = {
            "status": profile.status,
            "reason": profile.reason,
            "aa": profile.aa,
            "load_points": svc.results.load_points(job.id),
            "runs": svc.results.runs(job.id),
        }
    out["links"] = _links(job.id)
    return _json(out)


@routes.delete("/api/profiles/{id}")
async def cancel(request: web.Request) -> web.Response:
    svc = _svc(request)
    job = _job_or_404(svc, request.match_info["id"])
    if job.final:
        return json_error(409, f"profile {job.id} already ended ({job.status}); nothing to cancel")
    status = svc.store.request_cancel(job.id)
    svc.runner.wake()
    if status == J.CANCELLED:
        return _json({"id": job.id, "status": J.CANCELLED})
    # running: the runner interrupts it; the job turns `cancelled` once the profile has saved
    return _json({"id": job.id, "status": status, "cancel_requested": True}, status=202)


@routes.get("/api/profiles/{id}/log")
async def job_log(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    job = _job_or_404(svc, request.match_info["id"])
    path = svc.runner.log_path(job.id)
    text = path.read_text(errors="replace")[-1_000_000:] if path.is_file() else ""
    return web.Response(text=text, content_type="text/plain")


def _job_or_404(svc: Service, job_id: str) -> J.Job:
    job = svc.store.get(job_id) if len(job_id) <= 200 else None
    if job is None:
        raise web.HTTPNotFound(text=f"no profile {job_id[:80]!r}")
    return job


def _links(job_id: str) -> dict[str, str]:
    return {
        "self": f"/api/profiles/{job_id}",
        "report": f"/api/runs/{job_id}/report",
        "profile": f"/api/runs/{job_id}/files/{PROFILE}",
        "log": f"/api/profiles/{job_id}/log",
    }


# --------------------------------------------------------------------------- runs and files


def _dir_or_404(svc: Service, any_id: str) -> Path:
    path = svc.results.find(any_id)
    if path is None:
        raise web.HTTPNotFound(text=f"no profile or run {any_id[:80]!r}")
    return path


@routes.get("/api/runs/{id}")
async def get_run(request: web.Request) -> web.Response:
    svc = _svc(request)
    path = _dir_or_404(svc, request.match_info["id"])
    meta_name = PROFILE if (path / PROFILE).is_file() else MANIFEST
    try:
        meta = read_json(path / meta_name)
    except (OSError, ValueError, UserError) as exc:  # CorruptFile: says which file and why
        return json_error(422, str(exc) if isinstance(exc, UserError) else f"{meta_name}: {exc}")
    if not isinstance(meta, dict):
        return json_error(422, f"{path.name}/{meta_name}: not a JSON object (a corrupt file)")
    files = await asyncio.to_thread(list_files, path)
    return _json({"id": path.name, "kind": "profile" if meta_name == PROFILE else "run",
                  "meta": meta, "progress": run_progress(path) if meta_name == PROFILE else None,
                  "files": files})  # fmt: skip


@routes.get("/api/runs/{id}/report")
async def report(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    path = _dir_or_404(svc, request.match_info["id"])
    running = svc.runner.current
    if running and _fresh_report(path) is None and request.query.get("force") != "1":
        # matplotlib on this host while a profile measures would perturb that profile
        return json_error(
            409,
            f"profile {running} is running and {path.name} has no up-to-date report; rendering "
            "now would perturb the measurement. Try again when it ends (or add ?force=1).",
        )
    try:
        html = await asyncio.to_thread(_render_html, path)
    except (UserError, FileNotFoundError, ValueError, KeyError) as exc:
        # typically a profile that has not written enough yet
        return json_error(409, f"no report for {path.name} yet: {exc}")
    if html is None:
        return json_error(409, f"no report for {path.name} yet")
    return web.FileResponse(html, headers={"Content-Type": "text/html; charset=utf-8", **REPORT_CSP})


def _render_html(path: Path) -> Path | None:
    from profiler.report import render  # matplotlib & co: imported on first use only

    with _RENDER_LOCK:  # matplotlib is not thread-safe: one render at a time
        html = _fresh_report(path)
        if html is None:
            written = render(path, formats=("html",))
            html = next((Path(p) for p in written if str(p).endswith(".html")), None)
    return html if html is not None and html.is_file() else None


def _fresh_report(path: Path) -> Path | None:
    """An existing report.html newer than every JSON file of the directory (else re-render)."""
    html = path / "report.html"
    if not html.is_file():
        return None
    newest = max((p.stat().st_mtime for p in path.rglob("*.json")), default=0.0)
    return html if html.stat().st_mtime >= newest else None


@routes.get("/api/runs/{id}/files/{name:.+}")
async def get_file(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    path = _dir_or_404(svc, request.match_info["id"])
    name = request.match_info["name"]
    target = safe_file(path, name)
    if target is None:
        raise web.HTTPNotFound(text=f"no file {name[:120]!r} in {path.name}")
    ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if target.suffix == ".parquet":
        ctype = "application/vnd.apache.parquet"
    headers = {"Content-Type": ctype, "X-Content-Type-Options": "nosniff", **REPORT_CSP}
    if target.suffix not in (".html", ".png", ".json", ".md", ".txt", ".svg"):
        headers["Content-Disposition"] = f'attachment; filename="{target.name}"'
    return web.FileResponse(target, headers=headers)


# --------------------------------------------------------------------------- validate, queue


@routes.get("/api/validate")
async def validate(request: web.Request) -> web.Response:
    """?expect=on|off: the CC state this host should be in (default on)."""
    from profiler.service.validation import run_validation

    expect = request.query.get("expect", "on")
    if expect not in ("on", "off"):
        raise BadRequest("expect must be 'on' or 'off'")
    return _json(await asyncio.to_thread(run_validation, expect))


@routes.get("/api/queue")
async def queue(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    return _json({"paused": svc.runner.paused, "running": svc.runner.current,
                  "counts": svc.store.counts()})  # fmt: skip


@routes.post("/api/queue/pause")
async def pause(request: web.Request) -> web.StreamResponse:
    _svc(request).runner.pause()
    return await queue(request)


@routes.post("/api/queue/resume")
async def resume(request: web.Request) -> web.StreamResponse:
    _svc(request).runner.resume()
    return await queue(request)
