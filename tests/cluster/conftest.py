"""Tests with a real Ray cluster. They run only inside a loopback-only network namespace, started
by tests/integration/test_cluster.py (DESIGN §10); collected anywhere else they are skipped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.netns import require_loopback_only
from tests.support.ray_cluster import Cluster, ray_cluster
from tests.support.servers import ROOT

#: The second node plays a GPU host: Ray sees one GPU there, and validate reads a recorded
#: H100 with CC off (an NVML replay file) instead of this machine's (absent) driver.
GPU_NODE_ARGS = {1: ["--num-gpus", "1"]}
GPU_NODE_ENV = {1: {"TEE_LLM_PROF_NVML_REPLAY": str(ROOT / "tests/fixtures/nvml/h100_cc_off.json")}}

IN_NETNS = "TEE_LLM_PROF_IN_NETNS"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(IN_NETNS) == "1":
        require_loopback_only("tests/cluster")  # the variable alone is no namespace
        return
    skip = pytest.mark.skip(
        reason="starts Ray: runs inside its own network namespace (tests/integration/test_cluster.py)"
    )
    for item in items:
        if "tests/cluster/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two Ray nodes (127.0.0.1 head, 127.0.0.2 with a GPU) shared by the tests that do not kill one."""
    with ray_cluster(
        tmp_path_factory.mktemp("ray-logs"), node_args=GPU_NODE_ARGS, node_env=GPU_NODE_ENV
    ) as c:
        yield c


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Two Ray nodes for one test (which may lose a node)."""
    with ray_cluster(tmp_path / "ray-logs") as c:
        yield c
