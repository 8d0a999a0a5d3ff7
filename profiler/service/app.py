"""The aiohttp application: state, middlewares (errors as JSON, auth), start-up and shutdown.

    create_app(ServiceConfig(...)) -> web.Application

Routes live in ``routes.py`` (API), ``dashboard.py`` (HTML) and ``openapi.py`` (description).
Nothing a client sends can make the service answer 5xx on purpose: bad input is a 4xx with a
one-line message; an unexpected exception is logged with its traceback and answered 500.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from profiler.errors import UserError
from profiler.service.auth import Auth, unauthorized
from profiler.service.jobs import JobStore
from profiler.service.results import ResultStore
from profiler.service.runner import CommandFactory, JobRunner, profile_command

log = logging.getLogger("tee_llm_prof.service")

MAX_BODY = 64 * 1024  # a profile request is a few hundred bytes


@dataclass
class ServiceConfig:
    data_dir: Path
    token: str
    models_path: Path
    cancel_grace_s: float = 30.0
    poll_s: float = 0.5
    paused: bool = False
    max_body: int = MAX_BODY
    secure_cookie: bool = False
    cluster: str | None = None  # run each profile on a node of this Ray cluster (serve --cluster)
    cluster_node: str | None = None  # that node (default: any with a free CPU)
    # how a job becomes a command line; the real `tee-llm-prof profile` unless a test of the
    # queue itself swaps in another real program
    command: CommandFactory | None = field(default=None, repr=False)


@dataclass
class Service:
    config: ServiceConfig
    store: JobStore
    runner: JobRunner
    results: ResultStore
    auth: Auth
    lock_fd: int


SERVICE = web.AppKey("service", Service)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, message: str, **headers: str) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"error": message}),
        content_type="application/json",
        headers=headers,
    )


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        extra = {k: v for k, v in exc.headers.items() if k.lower() in ("www-authenticate", "allow")}
        return json_error(exc.status, message or exc.reason, **extra)
    except UserError as exc:
        return json_error(400, str(exc))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal error; the service log has the details")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    api = request.path.startswith("/api/") or request.path == "/api"
    if api and not request.app[SERVICE].auth.allowed(request):
        raise unauthorized()
    return await handler(request)


def create_app(config: ServiceConfig) -> web.Application:
    from profiler.service import dashboard, openapi, routes

    data = Path(config.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    lock = _lock_data_dir(data)
    store = JobStore(data / "jobs.sqlite")
    runner = JobRunner(
        store,
        data,
        config.command or profile_command(config.models_path, config.cluster, config.cluster_node),
        cancel_grace_s=config.cancel_grace_s,
        poll_s=config.poll_s,
        paused=config.paused,
    )
    service = Service(
        config=config,
        store=store,
        runner=runner,
        results=ResultStore(data / "profiles"),
        auth=Auth(config.token),
        lock_fd=lock,
    )
    app = web.Application(
        client_max_size=config.max_body, middlewares=[errors_middleware, auth_middleware]
    )
    app[SERVICE] = service
    routes.setup(app)
    dashboard.setup(app)
    openapi.setup(app)
    app.on_startup.append(_on_startup)
    app.on_cleanup.append(_on_cleanup)
    return app


async def _on_startup(app: web.Application) -> None:
    service = app[SERVICE]
    orphans = service.store.recover()
    for job in orphans:
        log.warning("job %s was running when the service stopped: marked interrupted", job.id)
    service.runner.start(orphans)


async def _on_cleanup(app: web.Application) -> None:
    service = app[SERVICE]
    await service.runner.stop()
    service.store.close()
    os.close(service.lock_fd)  # releases the data-directory lock


def _lock_data_dir(data: Path) -> int:
    """One service per data directory: two would each run a profile at the same time on this
    host (perturbing both) and race on the queue. The lock dies with the process."""
    fd = os.open(data / "service.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise UserError(
            f"another tee-llm-prof service (pid {holder}) is using {data}; stop it or use "
            "another --data directory"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd
