"""A real two-node Ray cluster on loopback, for tests that already run in a namespace of their own.

Each node is ``ray start --block`` with its own ``--node-ip-address`` (127.0.0.1 for the head,
127.0.0.2, … for the others: loopback answers the whole of 127.0.0.0/8) inside a PID namespace of
its own, so the test stops a node — or loses one mid-run — by killing one PID it started, and
every Ray process of that node goes with it. Never ``ray stop`` (it kills by process name).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.netns import pid_namespace, require_loopback_only
from tests.support.servers import ROOT, free_port

RAY = str(Path(sys.executable).with_name("ray"))
#: Node loss is noticed within ~2 s (Ray's default is ~30 s) so a lost-worker test stays short.
ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "3",
    "RAY_DEDUP_LOGS": "0",
}


@dataclass
class Node:
    ip: str
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """Lose this node at once: SIGKILL to its PID namespace (every process of the node)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


@dataclass
class Cluster:
    address: str
    nodes: list[Node] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}


def _start(ip: str, log: Path, *args: str, env: Mapping[str, str] | None = None) -> Node:
    cmd = [RAY, "start", "--block", "--node-ip-address", ip, "--num-cpus", "2", "--object-store-memory",
           "100000000", "--disable-usage-stats", *args]  # fmt: skip
    out = log.open("wb")
    proc = subprocess.Popen(pid_namespace(cmd), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                            env={**os.environ, **ENV, "PYTHONPATH": str(ROOT), **(env or {})})  # fmt: skip
    return Node(ip, proc, log)


def alive_nodes(address: str, timeout_s: float = 60.0) -> int:
    """How many nodes the cluster at ``address`` reports alive (asked from a fresh driver)."""
    probe = (
        "import ray, sys\n"
        f"ray.init(address={address!r}, logging_level='ERROR', log_to_driver=False)\n"
        "print(sum(1 for n in ray.nodes() if n['Alive']))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=timeout_s,
                         env={**os.environ, **ENV}, cwd=ROOT)  # fmt: skip
    lines = out.stdout.strip().splitlines()
    return int(lines[-1]) if out.returncode == 0 and lines else 0


@contextlib.contextmanager
def ray_cluster(
    logs: Path,
    n_nodes: int = 2,
    timeout_s: float = 90.0,
    node_args: Mapping[int, Sequence[str]] | None = None,
    node_env: Mapping[int, Mapping[str, str]] | None = None,
) -> Iterator[Cluster]:
    """Start a head and ``n_nodes - 1`` workers; yield once all are alive; kill them all after.

    ``node_args`` / ``node_env``: extra ``ray start`` arguments and environment per node (0 is
    the head), e.g. ``--num-gpus 1`` or an NVML replay file for one node.
    """
    require_loopback_only("a Ray cluster")  # Ray binds and probes whatever interfaces it sees
    args, envs = node_args or {}, node_env or {}
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cluster = Cluster(f"127.0.0.1:{port}")
    try:
        cluster.nodes.append(
            _start(
                "127.0.0.1",
                logs / "head.log",
                "--head",
                "--port",
                str(port),
                "--include-dashboard=false",
                *args.get(0, ()),
                env=envs.get(0),
            )
        )
        for k in range(2, n_nodes + 1):
            cluster.nodes.append(
                _start(
                    f"127.0.0.{k}",
                    logs / f"node{k}.log",
                    "--address",
                    cluster.address,
                    *args.get(k - 1, ()),
                    env=envs.get(k - 1),
                )
            )
        deadline = time.monotonic() + timeout_s
        while alive_nodes(cluster.address) < n_nodes:
            dead = [n for n in cluster.nodes if n.proc.poll() is not None]
            if dead or time.monotonic() > deadline:
                tail = dead[0].log.read_text(errors="replace")[-2000:] if dead else ""
                raise RuntimeError(f"the Ray cluster did not come up with {n_nodes} nodes:\n{tail}")
            time.sleep(0.5)
        yield cluster
    finally:
        for node in cluster.nodes:
            node.kill()
