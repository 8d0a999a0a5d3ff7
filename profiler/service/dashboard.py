"""GET / : a small HTML dashboard: every profile, its status and progress, its headline
overheads (with 95% CIs) per load point, and links to reports and files.

No data without the token: without a valid session cookie (or bearer header) the page is a
login form and nothing else. ``/?token=T`` or the form sets the cookie and redirects to ``/``
(see auth.py). The page refreshes itself every 10 s and needs no JavaScript.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qs, quote

from aiohttp import web

from profiler import __version__
from profiler.service import jobs as J
from profiler.service.app import SERVICE, Service
from profiler.service.auth import COOKIE

routes = web.RouteTableDef()

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d232a;
background:#f6f7f9}
h1{font-size:20px;margin:0 0 4px}.sub{color:#5b6570;margin:0 0 18px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}
th,td{padding:7px 10px;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600;font-size:13px}
.st{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.queued{background:#e8ecf1}.running{background:#dbeafe;color:#1e40af}
.done{background:#dcfce7;color:#166534}.failed{background:#fee2e2;color:#991b1b}
.cancelled,.interrupted{background:#fef3c7;color:#92400e}
.oh{font-variant-numeric:tabular-nums;white-space:nowrap}.ns{color:#7b8590}
.sig{font-weight:600}.lp{color:#5b6570;font-size:12px}a{color:#1d4ed8}
.reason{color:#7b8590;font-size:12px;max-width:28em}
form{background:#fff;padding:18px;max-width:420px;box-shadow:0 1px 2px #0002}
input[type=password]{width:100%;padding:6px;margin:8px 0}
code{background:#eef1f4;padding:1px 4px}
"""


def setup(app: web.Application) -> None:
    app.add_routes(routes)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _page(title: str, body: str, refresh: bool = False) -> web.Response:
    meta = '<meta http-equiv="refresh" content="10">' if refresh else ""
    doc = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )
    return web.Response(
        text=doc,
        content_type="text/html",
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "img-src 'self'; form-action 'self'; frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer",
        },
    )


def _login_page(message: str = "") -> web.Response:
    note = f'<p style="color:#991b1b">{_e(message)}</p>' if message else ""
    body = (
        "<h1>tee-llm-prof service</h1>"
        '<p class="sub">Sign in with the service token (the file printed by '
        "<code>tee-llm-prof serve</code> at start).</p>"
        f'{note}<form method="post" action="/login"><label>Token'
        '<input type="password" name="token" autocomplete="current-password"></label>'
        '<button type="submit">Open dashboard</button></form>'
    )
    resp = _page("tee-llm-prof: sign in", body)
    resp.set_status(401)
    return resp


def _signed_in(svc: Service, request: web.Request) -> web.HTTPSeeOther:
    resp = web.HTTPSeeOther("/")
    svc.auth.set_session(resp, secure=svc.config.secure_cookie)
    return resp


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    svc: Service = request.app[SERVICE]
    token = request.query.get("token")
    if token is not None:
        if svc.auth.token_ok(token):
            raise _signed_in(svc, request)
        return _login_page("wrong token")
    if not (svc.auth.bearer_ok(request) or svc.auth.session_ok(request.cookies.get(COOKIE))):
        return _login_page()
    return _page("tee-llm-prof profiles", _dashboard(svc), refresh=True)


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    svc: Service = request.app[SERVICE]
    # Parse the urlencoded form ourselves: the browser's login form sends nothing else, and
    # aiohttp's multipart parser raises on malformed bodies.
    raw = await request.read()
    try:
        form = parse_qs(raw.decode("utf-8"), max_num_fields=5)
    except (UnicodeDecodeError, ValueError):
        form = {}
    token = (form.get("token") or [""])[0]
    if svc.auth.token_ok(token):
        raise _signed_in(svc, request)
    return _login_page("wrong token")


@routes.get("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    svc: Service = request.app[SERVICE]
    svc.auth.revoke(request.cookies.get(COOKIE))  # the old cookie no longer opens anything
    resp = web.HTTPSeeOther("/")
    resp.del_cookie(COOKIE, path="/")
    raise resp


def _dashboard(svc: Service) -> str:
    jobs = svc.store.list_jobs(limit=200)
    counts = svc.store.counts()
    summary = " · ".join(f"{counts[s]} {s}" for s in J.STATUSES if counts[s])
    paused = " · <b>queue paused</b>" if svc.runner.paused else ""
    rows = "".join(_row(svc, job) for job in jobs) or (
        '<tr><td colspan="6" class="ns">No profiles yet. Submit one with '
        "<code>curl -H 'Authorization: Bearer $TOKEN' -d '{\"model\": \"tiny-llama\"}' "
        "http://HOST:PORT/api/profiles</code></td></tr>"
    )
    return (
        "<h1>tee-llm-prof profiles</h1>"
        f'<p class="sub">TEE overhead per model: positive = the TEE costs; '
        f"[95% CI]; bold = significant. {_e(summary) or 'no jobs'}{paused} · "
        f'v{_e(__version__)} · <a href="/logout">sign out</a></p>'
        "<table><thead><tr><th>Profile</th><th>Model</th><th>Status</th><th>Progress</th>"
        "<th>Overheads (TEE on vs off)</th><th>Results</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _row(svc: Service, job: J.Job) -> str:
    pid = quote(job.id, safe="")
    points = svc.results.load_points(job.id)
    has_dir = svc.results.profile_dir(job.id) is not None
    links = ""
    if has_dir:
        links = (
            f'<a href="/api/runs/{pid}/report">report</a> · '
            f'<a href="/api/runs/{pid}/files/profile.json">profile.json</a> · '
        )
    links += f'<a href="/api/profiles/{pid}/log">log</a>'
    reason = f'<div class="reason">{_e(job.reason)}</div>' if job.reason else ""
    return (
        f"<tr><td><a href='/api/profiles/{pid}'>{_e(job.id)}</a>"
        f'<div class="lp">{_e(J.iso(job.created))}</div></td>'
        f"<td>{_e(job.model)}</td>"
        f'<td><span class="st {_e(job.status)}">{_e(job.status)}</span>{reason}</td>'
        f"<td>{_progress(job)}</td><td>{_overheads(points)}</td><td>{links}</td></tr>"
    )


def _progress(job: J.Job) -> str:
    p = job.progress or {}
    done, expected = p.get("runs_finished"), p.get("runs_expected")
    if done is None and expected is None:
        return '<span class="ns">–</span>'
    text = f"{done or 0}/{expected} runs" if expected else f"{done or 0} runs"
    current = p.get("current_run")
    return _e(text) + (f'<div class="lp">now: {_e(current)}</div>' if current else "")


def _overheads(points: list[dict[str, Any]]) -> str:
    if not points:
        return '<span class="ns">–</span>'
    blocks = []
    for point in points:
        cells = []
        for h in point.get("headline") or []:
            cells.append(_overhead_cell(h))
        body = " ".join(cells) if cells else '<span class="ns">no comparison yet</span>'
        aa = " (A/A)" if point.get("aa") else ""
        blocks.append(f'<div><span class="lp">{_e(point.get("name"))}{aa}:</span> {body}</div>')
    return "".join(blocks)


def _overhead_cell(h: dict[str, Any]) -> str:
    pct, lo, hi = h.get("overhead_pct"), h.get("ci_low"), h.get("ci_high")
    if not isinstance(pct, int | float):
        return f'<span class="oh ns">{_e(h.get("label"))} n/a</span>'
    # a value without an interval says so: the header promises CIs, never imply one
    ci = " (no CI)"
    if isinstance(lo, int | float) and isinstance(hi, int | float):
        ci = f" [{lo:+.1f}, {hi:+.1f}]"
    cls = "oh sig" if h.get("significant") else "oh"
    return f'<span class="{cls}">{_e(h.get("label"))} {pct:+.1f}%{_e(ci)}</span>'
