"""scripts/device_check.sh on a host without a GPU: every step runs, failures are recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def test_device_check_records_every_step(tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable, "SAMPLER_SECONDS": "1",
           "IDLE_SECONDS": "0.2", "SKIP_STEPS": "vllm", "SUITE_BUDGET_S": "30"}
    env.pop("TEE_LLM_PROF_NVML_REPLAY", None)
    res = subprocess.run(["bash", str(ROOT / "scripts/device_check.sh")], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=240, check=False)
    assert res.returncode == 0, res.stderr
    steps = {s["step"]: s for s in json.loads((tmp_path / "steps.json").read_text())}
    assert {"nvidia_smi", "nvml_capture", "env", "validate", "sampler", "suite_gpu", "vllm"} <= set(steps)
    assert steps["vllm"].get("skipped") is True
    for name in ("env", "sampler", "suite_gpu"):
        assert steps[name]["rc"] == 0, (name, (tmp_path / "log.txt").read_text()[-2000:])
        json.loads((tmp_path / f"{name}.json").read_text())
    assert len(list(tmp_path.iterdir())) <= 8
    validate = json.loads((tmp_path / "validate.json").read_text())
    assert steps["validate"]["rc"] == validate["exit_code"]
    if validate["gpus"] == 0:  # this CPU-only host: said clearly, with the distinct exit code
        assert validate["exit_code"] == 3
        assert steps["nvml_capture"]["rc"] == 3
        sampler = json.loads((tmp_path / "sampler.json").read_text())
        assert sampler["session"]["nvml"]["available"] is False
        suite = json.loads((tmp_path / "suite_gpu.json").read_text())
        assert "CUDA" in suite["skipped"] or "torch" in suite["skipped"]
