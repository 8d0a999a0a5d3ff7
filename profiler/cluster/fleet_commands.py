"""``validate --cluster`` and ``suite NAME --cluster``: the fleet versions of the two commands.

Both go through :func:`profiler.cluster.fleet.on_every_node`; this module turns the per-node
answers into the fleet's verdict (validate) or into one run directory per node under ``--out``
(suite), each manifest recording the node it measured.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from profiler.cluster.fleet import on_every_node, unpack
from profiler.results.cluster import ClusterNode, ClusterRun, FleetValidation, NodeValidation

#: How long one node's validate may take (--probe moves a few GB over PCIe).
VALIDATE_TIMEOUT_S = 300.0


def fleet_exit_code(codes: Sequence[int]) -> int:
    """1 when a node does not hold or gave no answer; 3 when no node has a GPU to validate;
    else 0 (nodes without a GPU — exit 3, e.g. a CPU-only head — neither hold nor fail)."""
    if not codes or any(c not in (0, 3) for c in codes):
        return 1
    return 3 if all(c == 3 for c in codes) else 0


def _why(answer: dict[str, Any]) -> str:
    """The node's command's own last line of stderr (its one-line error), else its exit code."""
    lines = (answer.get("stderr") or "").strip().splitlines()
    return lines[-1] if lines else f"exit code {answer.get('rc')}"


def _node_validation(node: ClusterNode, answer: dict[str, Any] | None, why: str | None) -> NodeValidation:
    if answer is None:
        return NodeValidation(node=node, exit_code=1, error=why)
    try:
        result = json.loads(answer["stdout"])
    except (TypeError, ValueError):
        return NodeValidation(node=node, exit_code=1, error=f"validate gave no JSON: {_why(answer)}")
    return NodeValidation(
        node=ClusterNode.model_validate(answer["node"]),
        exit_code=int(result.get("exit_code", answer.get("rc") or 1)),
        verdict=result.get("verdict"),
        summary=result.get("summary"),
        result=result,
    )


def validate_fleet(address: str, expect: str, *, probe: bool, gpu_only: bool) -> FleetValidation:
    argv = ["validate", "--json", "--expect", expect, *(["--probe"] if probe else [])]
    answers = on_every_node(address, argv, gpu_only=gpu_only, timeout_s=VALIDATE_TIMEOUT_S)
    nodes = [_node_validation(n, a, why) for n, a, why in answers]
    return FleetValidation(
        cluster=address, expect=expect, gpu_nodes_only=gpu_only, nodes=nodes,
        exit_code=fleet_exit_code([n.exit_code for n in nodes]),
    )  # fmt: skip


def _mark_node(run_dir: Path, address: str, node: ClusterNode) -> None:
    """Record in the run's manifest which node of which cluster it measured."""
    from profiler.results.run import RunManifest

    path = run_dir / "manifest.json"
    manifest = RunManifest.load(path)
    manifest.cluster = ClusterRun(address=address, node=node)
    manifest.save(path)


def suite_fleet(
    address: str, argv: Sequence[str], out: Path, *, gpu_only: bool
) -> list[tuple[ClusterNode, list[Path], str | None]]:
    """Run ``suite …`` (``argv`` without ``--out``) on every node; its run directories land in
    ``out`` as they come back. (node, run directories, why it has none) per node."""
    from profiler.errors import UserError

    landed: dict[str, list[Path]] = {}
    problems: dict[str, str] = {}

    def arrived(node: ClusterNode, answer: dict[str, Any]) -> None:
        where = ClusterNode.model_validate(answer["node"])
        if answer.get("archive"):
            try:
                dirs = unpack(answer["archive"], out)
            except UserError as exc:
                problems[node.node_id] = str(exc)
                return
            for d in dirs:
                if (d / "manifest.json").exists():
                    _mark_node(d, address, where)
            landed[node.node_id] = dirs
        if answer.get("rc") != 0:
            problems[node.node_id] = _why(answer)

    answers = on_every_node(address, argv, gpu_only=gpu_only, pack=True, on_result=arrived)
    return [
        (n, landed.get(n.node_id, []), problems.get(n.node_id) or why) for n, _, why in answers
    ]
