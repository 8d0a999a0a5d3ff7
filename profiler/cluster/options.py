"""The cluster options of ``run``, ``profile`` and ``sweep`` (and how a placement is written).

Light on purpose: building ``--help`` imports this module, never ray.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from profiler.errors import UserError

#: Placement kinds (``--placement``); ``node=IP[,IP…]`` pins workers to those nodes.
PLACEMENTS = ("spread", "pack")
NAMESPACE = "tee-llm-prof"


@dataclass(frozen=True)
class Placement:
    kind: str  # spread | pack | node
    nodes: tuple[str, ...] = ()  # kind == "node": node IPs (or Ray node ids), workers dealt in turn

    def __str__(self) -> str:
        return f"node={','.join(self.nodes)}" if self.kind == "node" else self.kind


def parse_placement(text: str) -> Placement:
    """``spread`` | ``pack`` | ``node=IP[,IP…]``; anything else is a one-line error."""
    value = (text or "").strip()
    if value in PLACEMENTS:
        return Placement(value)
    key, sep, rest = value.partition("=")
    nodes = tuple(n.strip() for n in rest.split(",") if n.strip())
    if key == "node" and sep and nodes:
        return Placement("node", nodes)
    raise UserError(f"--placement {text!r}: expected spread, pack or node=IP[,IP…]")


@dataclass(frozen=True)
class ClusterOptions:
    """Where the load workers run: a Ray cluster's address and how to place them."""

    address: str
    placement: Placement = Placement("spread")
    namespace: str = NAMESPACE


CLUSTER_HELP = (
    "run the load workers on the Ray cluster at ADDRESS (host:port of its head, as `ray start "
    "--head` printed, or auto): each worker is a Ray actor running this tool's own load process "
    "on its node; Ray never touches a request. Needs the ray extra on every node (docs/cluster.md)"
)


def add_cluster_arguments(
    p: argparse.ArgumentParser | argparse._ArgumentGroup, *, workers: bool = True
) -> None:
    """``--cluster``, ``--placement`` (and ``--workers`` unless the command already has one)."""
    p.add_argument("--cluster", default=None, metavar="ADDRESS", help=CLUSTER_HELP)
    if workers:
        p.add_argument(
            "--workers",
            type=int,
            default=1,
            metavar="N",
            help="load worker processes, each its own event loop and core (default 1); with "
            "--cluster they are spread over the cluster's nodes",
        )
    p.add_argument(
        "--placement",
        default=None,
        metavar="spread|pack|node=IP",
        help="with --cluster: spread the workers over the nodes (default), pack them onto as few "
        "nodes as fit, or pin them to the nodes named (node=10.0.0.7,10.0.0.8: dealt in turn)",
    )


def cluster_options(args: argparse.Namespace) -> ClusterOptions | None:
    """The cluster options given on the command line (None: workers run on this host)."""
    address = getattr(args, "cluster", None)
    placement = getattr(args, "placement", None)
    if not address:
        if placement:
            raise UserError("--placement only applies with --cluster ADDRESS")
        return None
    if getattr(args, "workers", 1) < 1:
        raise UserError("--workers must be >= 1")
    return ClusterOptions(address=address.strip(), placement=parse_placement(placement or "spread"))
