"""The gpu suite and the CC reading on a real NVIDIA GPU (skipped without one).

Never run yet: the sessions that wrote it had no GPU. A device session runs it with
``python -m pytest -m gpu tests/integration/test_gpu_suite.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from profiler.gpu.capture import check_capture, export_run
from profiler.store import is_run_dir
from tests.support.servers import ROOT

pytestmark = [pytest.mark.gpu, pytest.mark.integration, pytest.mark.slow]


def test_gpu_suite_on_a_gpu(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "profiler.cli", "suite", "gpu", "--copy-max", "16M",
                        "--matmul-n", "4096", "--label", "on", "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if is_run_dir(p)]
    data = export_run(run_dir, "captured on this host by the gpu-marked test")
    assert data["manifest"]["status"] == "complete", data["manifest"].get("reason")
    assert check_capture(data) == [], json.dumps(data["manifest"]["suite"]["params"], default=str)[:2000]
    metrics = {row["metric"] for row in data["results"]}
    for m in ("h2d_pinned_pipelined", "d2h_pinned_sync", "h2d_pageable_pipelined", "d2h_pageable_sync",
              "h2d_pinned_pipelined_latency", "launch_pipelined", "launch_round_trip", "graph_capture",
              "graph_replay", "matmul_bf16"):
        assert m in metrics, m
    params = data["manifest"]["suite"]["params"]
    assert params["cc"]["cc"] in ("on", "off")  # NVML answered on a GPU host
    if params["cc"]["cc"] == "on":  # CC mode refuses cudaHostRegister (error 801)
        assert params["host_register"]["ok"] is False
