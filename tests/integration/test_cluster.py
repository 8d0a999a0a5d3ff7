"""The Ray tests (tests/cluster/), run inside a loopback-only network namespace of their own.

Ray finds its own IP by the machine's interface and a probe of an outside DNS address, so the
whole inner session runs in ``unshare --net --pid --fork`` with only ``lo`` up (DESIGN §10): no
Ray packet can leave loopback, and every Ray process dies with the namespace.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.support import netns
from tests.support.servers import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_cluster_tests_pass_inside_their_namespace() -> None:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("the ray extra is not installed (scripts/test.sh installs it)")
    why = netns.unavailable()
    if why:
        pytest.skip(why)
    env = {**os.environ, "TEE_LLM_PROF_IN_NETNS": "1"}
    cmd = [*netns.prefix(), sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA",
           "tests/cluster"]  # fmt: skip
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-12000:] + res.stderr[-4000:]
    assert " passed" in res.stdout and " skipped" not in res.stdout.splitlines()[-1], res.stdout[-3000:]
