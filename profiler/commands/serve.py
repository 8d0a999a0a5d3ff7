"""`tee-llm-prof serve`: the profiler as an authenticated HTTP service (profiler/service/)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
from pathlib import Path

from profiler.errors import UserError

DESCRIPTION = """\
Run the profiler as a service: an HTTP API and a dashboard over profiles and their results.
Profiles run one at a time (so they never perturb each other), as `tee-llm-prof profile`
subprocesses, from a persistent SQLite queue; only the models and endpoints named in
models.yaml can be profiled. Every /api route needs the bearer token from --token-file
(created, mode 0600, when it does not exist).

example:
  tee-llm-prof serve --port 8765 --data ./service-data
  TOKEN=$(cat ./service-data/token)
  curl -H "Authorization: Bearer $TOKEN" -d '{"model": "tiny-llama", "num_requests": 50}' \\
       http://127.0.0.1:8765/api/profiles
  open http://127.0.0.1:8765/?token=$TOKEN     # the dashboard (sets a session cookie)
  tee-llm-prof serve --cluster 10.0.0.7:6379 --cluster-node 10.0.0.8
                                                # each profile runs on that Ray node

With --cluster each job's profile runs on a node of that Ray cluster (the ray extra and the same
version there); the service keeps a local process per job that forwards cancel and shutdown to
it and copies its profile directory back every few seconds, so progress, results, cancel and
restart work as for a local profile (docs/cluster.md).
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this host only)")
    p.add_argument("--port", type=int, default=8765, help="TCP port (default 8765)")
    p.add_argument("--data", type=Path, default=Path("service-data"),
                   help="directory for the job database, profiles and logs (default ./service-data)")
    p.add_argument("--token-file", type=Path, default=None,
                   help="file holding the bearer token (default DATA/token; created if absent)")
    p.add_argument("--models", default=None,
                   help="models.yaml: the only models and endpoints the service will profile")
    p.add_argument("--cancel-grace-s", type=float, default=30.0,
                   help="after a cancel's SIGINT, seconds to let the profile save before SIGKILL")
    p.add_argument("--paused", action="store_true",
                   help="start with the queue paused (accept jobs, run none until resumed)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run each profile on a node of the Ray cluster at ADDRESS instead of here")
    p.add_argument("--cluster-node", metavar="IP",
                   help="with --cluster: the node to run profiles on (default: any with a free CPU)")
    p.add_argument("--secure-cookie", action="store_true",
                   help="mark the dashboard cookie Secure (when a TLS proxy fronts the service)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from profiler.config import load_models, models_path
    from profiler.service import ServiceConfig, create_app
    from profiler.service.auth import load_or_create_token

    if not 0 < args.port < 65536:
        raise UserError(f"--port must be 1..65535, got {args.port}")
    if args.cancel_grace_s <= 0:
        raise UserError("--cancel-grace-s must be > 0")
    if args.cluster_node and not args.cluster:
        raise UserError("--cluster-node only applies with --cluster ADDRESS")
    if args.cluster:
        from profiler.cluster.connect import check_reachable, require_ray

        require_ray()
        check_reachable(args.cluster)  # fail now, not at the first job
    models = models_path(args.models).resolve()
    known = load_models(models)  # fail now, not at the first submission
    data: Path = args.data.resolve()
    from profiler.experiment.preflight import check_writable

    check_writable(data, "--data")
    token_file = (args.token_file or data / "token").resolve()
    token, created = load_or_create_token(token_file)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = ServiceConfig(
        data_dir=data,
        token=token,
        models_path=models,
        cancel_grace_s=args.cancel_grace_s,
        paused=args.paused,
        secure_cookie=args.secure_cookie,
        cluster=args.cluster,
        cluster_node=args.cluster_node,
    )
    app = create_app(config)
    print(f"token: {token_file}" + (" (new, mode 0600)" if created else ""), flush=True)
    print(f"models: {models} ({', '.join(sorted(known))})", flush=True)
    print(f"data: {data}", flush=True)
    if not _is_loopback(args.host):
        print(f"warning: listening on {args.host}: reachable from other hosts; "
              "put TLS in front of it", flush=True)  # fmt: skip
    serving = f"serving on http://{_url_host(args.host)}:{args.port}/ (Ctrl-C stops)"

    def bound(_: str) -> None:  # aiohttp calls this once the socket is bound and listening
        print(serving, flush=True)

    try:
        web.run_app(app, host=args.host, port=args.port, print=bound, handle_signals=True,
                    shutdown_timeout=5)  # fmt: skip
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    return 0


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
