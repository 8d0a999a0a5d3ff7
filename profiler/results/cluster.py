"""What a run directory records about the Ray cluster that made it (manifest.json ``cluster``).

A distributed LLM run (``run|profile|sweep --cluster``) keeps one :class:`ClusterWorker` per
load worker: where it ran, how its clock relates to the driver's, how many requests it owned,
its own client-health verdict, and — when it was lost mid-run — why. A fleet run (``suite NAME
--cluster``) keeps the :class:`ClusterNode` it ran on. Clocks (docs/cluster.md):

- every per-request metric is a difference of two stamps taken by one worker on one host;
- absolute stamps in requests.parquet are the worker's CLOCK_MONOTONIC plus ``shift_ns``, which
  places them on the driver's CLOCK_MONOTONIC (so they line up with the driver's telemetry);
- ``shift_ns`` comes from the worker's wall/monotonic anchor and ``clock_offset_ns``, the
  worker's wall clock minus the driver's, measured by the round trip with the smallest RTT
  (``clock_bound_ns`` = RTT/2 bounds its error).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from profiler.results.files import Strict


class ClusterNode(Strict):
    """One Ray node: its id, the address Ray knows it by, and its host name."""

    node_id: str
    ip: str
    hostname: str | None = None
    gpus: float = 0.0  # the node's GPU resource in Ray


class ClusterWorker(Strict):
    worker: int  # the ``worker`` column of requests.parquet
    node: ClusterNode
    pid: int | None = None  # the load process (a child of the actor)
    requests: int = 0  # requests of the schedule this worker owned
    clock_offset_ns: int = 0  # the worker's wall clock − the driver's
    clock_bound_ns: int = 0  # |error of the offset| ≤ this (half the best round trip)
    clock_rtt_ns: int = 0  # the best round trip of the exchange
    clock_samples: int = 0
    shift_ns: int = 0  # added to this worker's stamps to place them on the driver's clock
    client_health: dict[str, Any] | None = None  # this worker's own gate (loadgen.health)
    lost: str | None = None  # why the worker's records never came back (its requests failed)
    error: str | None = None  # the worker ran but stopped on an error


class ClusterRun(Strict):
    """manifest.json ``cluster`` of a distributed run or of one node's share of a fleet run."""

    address: str
    namespace: str | None = None
    placement: str | None = None  # spread | pack | node=IP[,IP…]
    driver_host: str | None = None
    start_margin_ns: int | None = None  # the common start lay this far after the last worker was ready
    workers: list[ClusterWorker] = Field(default_factory=list)
    node: ClusterNode | None = None  # fleet runs: the node this run directory measured


class NodeValidation(Strict):
    """One node's ``validate --json``, or why it has none."""

    node: ClusterNode
    exit_code: int  # the node's own exit code (1 when it gave no answer)
    verdict: str | None = None
    summary: str | None = None
    result: dict[str, Any] | None = None  # the node's validate --json, unchanged
    error: str | None = None  # the node gave no answer: why


class FleetValidation(Strict):
    """``validate --cluster ADDRESS --json``: every node's validation and the fleet's verdict."""

    kind: str = "fleet-validate"
    cluster: str
    expect: str
    gpu_nodes_only: bool = False
    nodes: list[NodeValidation] = Field(default_factory=list)
    exit_code: int  # 0 every node holds; 1 one does not or gave no answer; 3 none has a GPU
