"""Fleet commands: one ``validate`` or one ``suite`` on every node of a Ray cluster.

On each node a Ray task (pinned by hard node affinity, reserving no CPU so it runs beside
whatever the node already hosts) starts this tool's own command line as a subprocess, exactly
as an operator would type it there, and hands back its exit code, its JSON and — for suites —
the run directory it wrote, packed as one tar archive. So:

- nothing of the measurement runs inside a Ray worker process (a crash of NVML or of a suite
  tool takes down a subprocess, not the task);
- no shared file system is assumed: every run directory comes back to the driver's ``--out``;
- a node that dies, or a task that fails, is one row with the reason; the others are kept.

The subprocess sees every GPU of its node (:func:`profiler.cluster.node.subprocess_env`).
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from profiler.cluster.connect import alive_nodes, connect, first_line
from profiler.cluster.node import pack_dir, subprocess_env
from profiler.errors import UserError
from profiler.results.cluster import ClusterNode

#: How often the driver looks at the tasks (and lets Ctrl-C in).
POLL_S = 0.2


def node_command(argv: Sequence[str], timeout_s: float | None, pack: bool) -> dict[str, Any]:
    """Inside a Ray task: run ``tee-llm-prof ARGV`` on this node (``--out`` a fresh directory).

    Returns the node, the exit code, stdout, the tail of stderr and (``pack``) the directory
    the command wrote, as tar bytes.
    """
    from profiler.cluster.connect import this_node

    env = subprocess_env()
    node = this_node().model_dump()
    with tempfile.TemporaryDirectory(prefix="tee-llm-prof-fleet-") as tmp:
        cmd = [sys.executable, "-m", "profiler.cli", *argv, *(["--out", tmp] if pack else [])]
        t0 = time.monotonic()
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=tmp)
        except subprocess.TimeoutExpired:
            return {"node": node, "rc": None, "stdout": "", "stderr": f"no answer within {timeout_s:g} s"}
        archive = pack_dir(Path(tmp)) if pack and any(Path(tmp).iterdir()) else None
        return {
            "node": node,
            "rc": done.returncode,
            "stdout": done.stdout,
            "stderr": done.stderr[-4000:],
            "seconds": time.monotonic() - t0,
            "archive": archive,
        }


def without_options(argv: Sequence[str], options: dict[str, int]) -> list[str]:
    """``argv`` less each ``--option`` of ``options`` (with its ``n`` values, or ``--option=value``)."""
    out: list[str] = []
    skip = 0
    for arg in argv:
        if skip:
            skip -= 1
            continue
        name = arg.split("=", 1)[0]
        if name in options:
            skip = 0 if "=" in arg else options[name]
            continue
        out.append(arg)
    return out


def select_nodes(ray: ModuleType, gpu_only: bool) -> list[ClusterNode]:
    nodes = alive_nodes(ray)
    if gpu_only:
        nodes = [n for n in nodes if n.gpus > 0]
        if not nodes:
            raise UserError("--gpu-nodes-only: no alive node of the cluster has a GPU resource")
    return nodes


def on_every_node(
    address: str,
    argv: Sequence[str],
    *,
    gpu_only: bool = False,
    timeout_s: float | None = None,
    pack: bool = False,
    on_result: Callable[[ClusterNode, dict[str, Any]], None] | None = None,
) -> list[tuple[ClusterNode, dict[str, Any] | None, str | None]]:
    """Run ``tee-llm-prof ARGV`` on each selected node; (node, answer, why it has none) per node.

    Ctrl-C cancels what is still running and returns what already came back (the others
    carry the reason), so a long fleet suite never loses the nodes that finished.
    """
    ray = connect(address)
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = ray.remote(num_cpus=0, max_retries=0)(node_command)
    nodes = select_nodes(ray, gpu_only)
    refs = {
        task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n.node_id, soft=False)).remote(
            list(argv), timeout_s, pack
        ): n
        for n in nodes
    }
    answers: dict[str, tuple[dict[str, Any] | None, str | None]] = {}
    pending = dict(refs)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            for ref in ready:
                node = pending.pop(ref)
                try:
                    value = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    answers[node.node_id] = (None, first_line(exc))
                    continue
                answers[node.node_id] = (value, None)
                if on_result is not None:
                    on_result(node, value)
    except KeyboardInterrupt:
        for ref, node in pending.items():
            ray.cancel(ref, force=True)
            answers[node.node_id] = (None, "interrupted (Ctrl-C) before this node answered")
    return [(n, *answers.get(n.node_id, (None, "no answer"))) for n in nodes]


def unpack(archive: bytes, out: Path) -> list[Path]:
    """The run directories of one node's archive, extracted under ``out`` (paths stay inside)."""
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tops = sorted({m.name.split("/", 1)[0] for m in tar.getmembers()})
        clash = [t for t in tops if (out / t).exists()]
        if clash:
            raise UserError(f"{out / clash[0]} already exists; choose another --out")
        tar.extractall(out, filter="data")
    return [out / t for t in tops]
