"""scripts/device_check.sh's plan, without a GPU: steps, time limits under a global deadline, files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MAX_FILES = 8  # what the device runner brings back
EIGHT_MINUTES = 480


def _plan(tmp: Path, **env: str) -> tuple[list[dict[str, Any]], str]:
    res = subprocess.run(["bash", str(ROOT / "scripts/device_check.sh")], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=False,
                         env={**os.environ, "OUT": str(tmp), "DRY_RUN": "1", **env})
    assert res.returncode == 0, res.stderr
    return json.loads((tmp / "steps.json").read_text()), (tmp / "log.txt").read_text()


def test_the_plan_fits_eight_minutes_and_eight_files(tmp_path: Path) -> None:
    steps, log = _plan(tmp_path)
    names = [s["step"] for s in steps]
    assert names[:3] == ["nvidia_smi", "nvidia_smi_cc", "nvml_capture"]  # the CC facts first
    assert {"env", "validate", "suite_gpu", "sampler", "vllm"} <= set(names)
    assert "bandwidth" not in names  # folded into the gpu suite's copy sweep
    assert all(s["runs"] and s["limit"] >= 10 for s in steps)
    # worst case: every step runs to its limit, and the whole still ends inside 8 minutes
    assert sum(s["limit"] for s in steps) <= 470 < EIGHT_MINUTES
    files = {s["outfile"] for s in steps if s["outfile"] != "-"} | {"nvml_capture.json", "steps.json",
                                                                    "log.txt"}
    assert len(files) <= MAX_FILES and "suite_gpu.json" in files
    suite = next(s for s in steps if s["step"] == "suite_gpu")
    budget = int(re.search(r"suite-gpu --budget-s (\d+)", log).group(1))  # type: ignore[union-attr]
    assert budget + 30 == suite["limit"]  # the suite sizes its sweep to end inside its timeout


def test_a_short_deadline_squeezes_the_suite_and_drops_what_does_not_fit(tmp_path: Path) -> None:
    steps, log = _plan(tmp_path, DEADLINE_S="200")
    by = {s["step"]: s for s in steps}
    assert sum(s["limit"] for s in steps) <= 200
    assert by["sampler"]["runs"] is False and by["vllm"]["runs"] is False
    budget = int(re.search(r"suite-gpu --budget-s (\d+)", log).group(1))  # type: ignore[union-attr]
    assert budget + 30 == by["suite_gpu"]["limit"] < 180


def test_the_python_side_has_every_subcommand_the_script_calls() -> None:
    res = subprocess.run([sys.executable, str(ROOT / "scripts/device_check.py"), "--help"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0
    script = (ROOT / "scripts/device_check.sh").read_text()
    for sub in re.findall(r"scripts/device_check\.py ([a-z-]+)", script):
        assert sub in res.stdout, sub
