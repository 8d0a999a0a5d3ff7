"""models.yaml and the strict loader (DESIGN §6, §8.3): every entry loads; bad files name file:line:key."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from profiler.config import MODELS_ENV, REPO_MODELS, WorkloadSpec, get_model, load_models, models_path
from profiler.errors import UserError

PAPER_MODELS = ("llama-3.1-8b", "phi-3-medium-128k", "llama-3.1-70b")


def test_repo_models_yaml_loads_with_every_model() -> None:
    models = load_models(REPO_MODELS)
    assert {"tiny-llama", *PAPER_MODELS} <= set(models)
    tiny = models["tiny-llama"]
    assert tiny.engine.name == "vllm-cpu"
    assert tiny.tokenizer.kind == "generated-bpe"
    # the CPU attention kernel rejects head_dim 16 (DESIGN §7)
    arch = tiny.architecture
    assert arch["hidden_size"] // arch["num_attention_heads"] == arch["head_dim"] == 64


def test_package_copy_is_the_repo_file() -> None:
    assert (Path(__file__).resolve().parents[1] / "profiler" / "models.yaml").resolve() == REPO_MODELS


@pytest.mark.parametrize("key", PAPER_MODELS)
def test_paper_models_have_real_shapes_and_paper_workload(key: str) -> None:
    entry = get_model(key, REPO_MODELS)
    arch = entry.architecture
    assert entry.engine.name == "vllm-cuda"
    assert entry.tokenizer.kind == "synthetic"
    assert entry.tokenizer.vocab_size == arch["vocab_size"]
    assert arch["hidden_size"] % arch["num_attention_heads"] == 0
    assert arch["num_attention_heads"] % arch["num_key_value_heads"] == 0
    # arXiv:2409.03992: 1000 prompts, Poisson 1/4/16/inf req/s
    assert entry.workload.num_requests == 1000
    assert entry.workload.request_rates == [1.0, 4.0, 16.0, math.inf]
    assert entry.workload.burstiness == 1.0


def test_llama_70b_overrides_the_shared_anchor() -> None:
    a8 = get_model("llama-3.1-8b", REPO_MODELS).architecture
    a70 = get_model("llama-3.1-70b", REPO_MODELS).architecture
    assert (a8["hidden_size"], a8["num_hidden_layers"]) == (4096, 32)
    assert (a70["hidden_size"], a70["num_hidden_layers"], a70["intermediate_size"]) == (8192, 80, 28672)
    assert a70["rope_scaling"] == a8["rope_scaling"]


def test_unknown_key_names_file_line_and_dotted_key(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "models:\n"
        "  m:\n"
        "    hf_id: x/y\n"
        "    served_name: m\n"
        "    engine:\n"
        "      tensor_paralel: 2\n"
    )
    with pytest.raises(UserError) as err:
        load_models(path)
    msg = str(err.value)
    assert f"{path}:6: models.m.engine.tensor_paralel: unknown key" in msg


def test_bad_value_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  m:\n    hf_id: x\n    served_name: m\n    workload:\n      concurrency: 0\n")
    with pytest.raises(UserError, match=r"models\.yaml:6: models\.m\.workload\.concurrency"):
        load_models(path)


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(UserError) as err:
        get_model("llama-9", REPO_MODELS)
    assert "unknown model 'llama-9'" in str(err.value)
    assert "tiny-llama" in str(err.value) and "llama-3.1-70b" in str(err.value)


def test_models_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "env.yaml"
    monkeypatch.setenv(MODELS_ENV, str(env_file))
    assert models_path() == env_file
    assert models_path(tmp_path / "explicit.yaml") == tmp_path / "explicit.yaml"


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read"):
        load_models(tmp_path / "nope.yaml")


def test_workload_rates_accept_inf_strings_and_reject_zero() -> None:
    assert WorkloadSpec.model_validate({"request_rates": ["inf", 4]}).request_rates == [math.inf, 4.0]
    with pytest.raises(ValueError):
        WorkloadSpec(request_rates=[0])


def test_models_command_lists_every_key_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import json

    from profiler.commands import models as models_cmd

    assert models_cmd.run(argparse.Namespace(models=str(REPO_MODELS), json=True)) == 0
    rows = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"tiny-llama", *PAPER_MODELS} <= set(rows)
    assert rows["llama-3.1-8b"]["engine"] == "vllm-cuda"
    assert rows["llama-3.1-8b"]["request_rates"] == "1,4,16,inf"
    # parameter counts from the architecture alone: the published sizes, within 2%
    published_sizes = (("llama-3.1-8b", 8.03e9), ("llama-3.1-70b", 70.6e9), ("phi-3-medium-128k", 14.0e9))
    for key, published in published_sizes:
        assert abs(rows[key]["params"] / published - 1) < 0.02, key
