"""Connecting to a Ray cluster, and what it holds: one-line errors instead of Ray's retry loops.

``ray.init(address=...)`` on an address that does not answer retries for minutes, printing C++
warnings; a plain TCP connect to the head's port first turns that into one line within seconds.
The connection is kept for the life of the process (a profile's many runs share it).
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from profiler.cluster.options import NAMESPACE
from profiler.errors import MissingExtra, UserError
from profiler.results.cluster import ClusterNode

#: How long the head's port may take to accept a TCP connection before we give up.
REACH_TIMEOUT_S = 5.0


def require_ray() -> ModuleType:
    """The ``ray`` module, or a one-line error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise MissingExtra("ray", "ray") from None
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a ``host:port`` address; None for ``auto``/``ray://`` (Ray resolves them)."""
    if address in ("auto", "local") or "://" in address:
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise UserError(
            f"--cluster {address!r}: expected HOST:PORT of the Ray head (e.g. 10.0.0.7:6379) or auto"
        )
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """One TCP connect to the head's GCS port: a clear error when nothing answers there."""
    hp = _host_port(address)
    if hp is None:
        return
    try:
        with socket.create_connection(hp, timeout=timeout_s):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise UserError(
            f"cannot reach the Ray cluster at {address}: {why}; is `ray start --head` running there, "
            "and is this host allowed to connect (docs/cluster.md)?"
        ) from None


@dataclass
class _State:
    address: str | None = None


_STATE = _State()


def first_line(exc: BaseException) -> str:
    """The first meaningful line of a (Ray) error, with its type: Ray's own messages carry whole
    remote tracebacks."""
    for line in str(exc).strip().splitlines():
        line = line.strip()
        if line and not line.startswith(("Traceback", "File ", "^")):
            return f"{type(exc).__name__}: {line}"[:300]
    return type(exc).__name__


def connect(address: str, namespace: str = NAMESPACE) -> ModuleType:
    """Connect this process to the cluster at ``address`` (once); return the ray module."""
    ray = require_ray()
    if ray.is_initialized():
        if _STATE.address not in (None, address):
            raise UserError(
                f"already connected to the Ray cluster at {_STATE.address}; one process drives one cluster"
            )
        return ray
    check_reachable(address)
    # Ray's own INFO lines and the workers' prints stay out of the tool's output.
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        ray.init(
            address=address,
            namespace=namespace,
            logging_level=logging.WARNING,
            log_to_driver=False,
            configure_logging=True,
        )
    except Exception as exc:  # ConnectionError, RuntimeError, or Ray's own (authentication, version)
        raise UserError(f"cannot connect to the Ray cluster at {address}: {first_line(exc)}") from None
    _STATE.address = address
    return ray


def node_of(info: dict[str, Any]) -> ClusterNode:
    resources = info.get("Resources") or {}
    return ClusterNode(
        node_id=str(info["NodeID"]),
        ip=str(info.get("NodeManagerAddress") or ""),
        hostname=info.get("NodeManagerHostname") or None,
        gpus=float(resources.get("GPU", 0.0)),
    )


def alive_nodes(ray: ModuleType) -> list[ClusterNode]:
    """Every alive node, head first, then by address (a stable order for dealing workers)."""
    infos = [n for n in ray.nodes() if n.get("Alive")]
    head = {str(n["NodeID"]) for n in infos if "node:__internal_head__" in (n.get("Resources") or {})}
    nodes = [node_of(n) for n in infos]
    return sorted(nodes, key=lambda n: (n.node_id not in head, n.ip, n.node_id))


def this_node() -> ClusterNode:
    """The node a task or actor runs on (called inside Ray)."""
    ray = require_ray()
    node_id = ray.get_runtime_context().get_node_id()
    for info in ray.nodes():
        if str(info["NodeID"]) == node_id:
            return node_of(info)
    return ClusterNode(node_id=node_id, ip=ray.util.get_node_ip_address(), hostname=socket.gethostname())
