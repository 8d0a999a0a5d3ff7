"""Where each load worker goes: ``--placement`` → one set of Ray actor options per worker.

- ``spread``: a placement group of one 1-CPU bundle per worker, strategy SPREAD (Ray puts the
  bundles on as many nodes as it can; N workers on N nodes land one per node);
- ``pack``: the same with PACK (as few nodes as hold the bundles: clients beside one endpoint);
- ``node=IP[,IP…]``: worker w on the (w mod k)-th node named, by hard node affinity.

Every worker reserves one CPU, so two workers never share a core the scheduler knows of. Where
a worker really ran is read back from inside it, not assumed from the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from profiler.cluster.options import Placement
from profiler.errors import UserError
from profiler.results.cluster import ClusterNode

#: How long a placement group may take to be placed before the run gives up with a reason.
PLACE_TIMEOUT_S = 60.0
STRATEGIES = {"spread": "SPREAD", "pack": "PACK"}


def resolve_nodes(names: Sequence[str], nodes: Sequence[ClusterNode]) -> list[ClusterNode]:
    """The nodes ``names`` refer to (an IP, a host name, or a prefix of a Ray node id)."""
    out = []
    for name in names:
        found = [n for n in nodes if name in (n.ip, n.hostname) or n.node_id.startswith(name)]
        if not found:
            known = ", ".join(f"{n.ip} ({n.hostname or n.node_id[:8]})" for n in nodes) or "none"
            raise UserError(
                f"--placement node={name}: no alive node of the cluster is {name} (nodes: {known})"
            )
        if len(found) > 1 and not any(n.node_id.startswith(name) for n in found):
            ids = ", ".join(n.node_id[:12] for n in found)
            raise UserError(
                f"--placement node={name}: {len(found)} nodes share that address; name one by id ({ids})"
            )
        out.append(found[0])
    return out


def pinned(placement: Placement, nodes: Sequence[ClusterNode], n_workers: int) -> list[ClusterNode]:
    """``node=…``: the node of each worker, dealt in turn over the nodes named."""
    chosen = resolve_nodes(placement.nodes, nodes)
    return [chosen[w % len(chosen)] for w in range(n_workers)]


@dataclass
class Plan:
    """Actor options per worker, and what to release after the run."""

    options: list[dict[str, Any]]
    group: Any = None  # the placement group (spread, pack)

    def release(self, ray: ModuleType) -> None:
        if self.group is not None:
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(self.group)
            self.group = None


def plan(ray: ModuleType, placement: Placement, nodes: Sequence[ClusterNode], n_workers: int) -> Plan:
    """Reserve room for ``n_workers`` one-CPU workers as ``placement`` says."""
    if not nodes:
        raise UserError("the Ray cluster has no alive node")
    if placement.kind == "node":
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        targets = pinned(placement, nodes, n_workers)
        return Plan(
            [
                {"num_cpus": 1, "scheduling_strategy": NodeAffinitySchedulingStrategy(n.node_id, soft=False)}
                for n in targets
            ]
        )
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    group = placement_group([{"CPU": 1}] * n_workers, strategy=STRATEGIES[placement.kind])
    ready, _ = ray.wait([group.ready()], timeout=PLACE_TIMEOUT_S)
    if not ready:
        remove_placement_group(group)
        free = ray.available_resources().get("CPU", 0.0)
        raise UserError(
            f"the Ray cluster cannot place {n_workers} workers of 1 CPU each ({placement}) within "
            f"{PLACE_TIMEOUT_S:g} s ({free:g} CPUs free on {len(nodes)} nodes); use fewer --workers "
            "or add nodes"
        )
    return Plan(
        [
            {
                "num_cpus": 1,
                "scheduling_strategy": PlacementGroupSchedulingStrategy(
                    group, placement_group_bundle_index=w
                ),
            }
            for w in range(n_workers)
        ],
        group=group,
    )
