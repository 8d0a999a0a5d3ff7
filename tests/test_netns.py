"""The guard that keeps Ray on loopback (DESIGN §10): no cluster starts where more is visible."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import netns
from tests.support.ray_cluster import ray_cluster


def test_a_ray_cluster_refuses_to_start_where_more_than_loopback_is_visible(tmp_path: Path) -> None:
    if netns.interfaces() == ["lo"]:
        pytest.skip("this process already sees only loopback")
    with pytest.raises(RuntimeError, match="loopback-only network namespace"), ray_cluster(tmp_path / "logs"):
        pass
    assert not (tmp_path / "logs").exists()  # refused before any node (or its log) was started


def test_inside_the_namespace_only_loopback_is_seen() -> None:
    why = netns.unavailable()
    if why:
        pytest.skip(why)
    probe = "from tests.support import netns; print(netns.interfaces())"
    out = subprocess.run([*netns.prefix(), sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    assert out.stdout.strip() == "['lo']", out.stderr
