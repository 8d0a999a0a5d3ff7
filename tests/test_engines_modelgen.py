"""The offline model builder: tokenizers of exact size, deterministic weights, cached directories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from profiler.config import REPO_MODELS, ModelEntry, get_model
from profiler.engines.modelgen import (
    BOS,
    EOS,
    build_bpe_tokenizer,
    build_model_dir,
    build_synthetic_tokenizer,
    llama_tensors,
)
from profiler.errors import UserError

# the cpu extra's tokenizers: without it (a light `dev` install) these tests are skipped
Tokenizer = pytest.importorskip("tokenizers").Tokenizer


def test_bpe_tokens_all_decode_to_visible_ascii(tmp_path: Path) -> None:
    size = build_bpe_tokenizer(tmp_path, 320, seed=0)
    assert size == 320
    tok = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert tok.token_to_id(BOS) == 0 and tok.token_to_id(EOS) == 1
    for i in range(2, size):
        text = tok.decode([i])
        # one token = one non-empty, complete piece of text: vLLM streams one event per token
        assert text and text.isascii(), (i, text)


def test_bpe_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    build_bpe_tokenizer(a, 320, seed=0)
    build_bpe_tokenizer(b, 320, seed=0)
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()


def test_synthetic_tokenizer_has_exact_size_and_config_ids(tmp_path: Path) -> None:
    arch = {"bos_token_id": 500, "eos_token_id": [700, 701]}
    assert build_synthetic_tokenizer(tmp_path, 1000, arch) == 1000
    tok = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert tok.token_to_id(BOS) == 500 and tok.token_to_id(EOS) == 700
    ids = list(range(3, 400))
    text = tok.decode(ids)
    assert tok.encode(text, add_special_tokens=False).ids == ids  # exact round trip
    cfg = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert cfg["bos_token"] == BOS and "chat_template" in cfg


def test_synthetic_tokenizer_rejects_ids_outside_the_vocab(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="do not fit"):
        build_synthetic_tokenizer(tmp_path, 100, {"bos_token_id": 128000, "eos_token_id": 1})


def test_llama_tensors_shapes_seed_and_silent_special_tokens() -> None:
    arch = get_model("tiny-llama", REPO_MODELS).architecture
    t = llama_tensors(arch, seed=0, special_ids=(0, 1))
    assert t["model.embed_tokens.weight"].shape == (320, 128)
    assert t["model.layers.1.self_attn.q_proj.weight"].shape == (2 * 64, 128)
    assert t["model.layers.0.mlp.down_proj.weight"].shape == (128, 256)
    assert not t["lm_head.weight"][:2].any() and t["lm_head.weight"][2:].any()
    again, other = llama_tensors(arch, seed=0), llama_tensors(arch, seed=1)
    w = "model.layers.0.self_attn.k_proj.weight"
    assert np.array_equal(t[w], again[w]) and not np.array_equal(t[w], other[w])


def _entry(**kw: object) -> ModelEntry:
    base = get_model("tiny-llama", REPO_MODELS).model_dump()
    base.update(kw)
    return ModelEntry.model_validate(base)


@pytest.mark.slow  # imports torch (~5 s) to write bf16 safetensors
def test_model_dir_is_built_once_and_reused(tmp_path: Path) -> None:
    entry = _entry()
    first = build_model_dir(entry, "tiny-llama", with_weights=True, root=tmp_path)
    stamp = (first.path / "model.safetensors").stat().st_mtime_ns
    again = build_model_dir(entry, "tiny-llama", with_weights=True, root=tmp_path)
    assert again.path == first.path and (again.path / "model.safetensors").stat().st_mtime_ns == stamp
    cfg = json.loads((first.path / "config.json").read_text())
    assert cfg["vocab_size"] == first.vocab_size == 320
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left
    other = build_model_dir(_entry(seed=1), "tiny-llama", with_weights=True, root=tmp_path)
    assert other.path != first.path


def test_dummy_model_dir_has_config_and_tokenizer_only(tmp_path: Path) -> None:
    arch = {**get_model("llama-3.1-8b", REPO_MODELS).architecture, "vocab_size": 2000}
    arch["bos_token_id"], arch["eos_token_id"] = 0, 1
    entry = _entry(architecture=arch, tokenizer={"kind": "synthetic", "vocab_size": 1500})
    built = build_model_dir(entry, "x", with_weights=False, root=tmp_path)
    names = {p.name for p in built.path.iterdir()}
    assert {"config.json", "tokenizer.json", "tokenizer_config.json"} <= names
    assert "model.safetensors" not in names
    assert json.loads((built.path / "config.json").read_text())["vocab_size"] == 2000


def test_tokenizer_larger_than_the_model_is_an_error(tmp_path: Path) -> None:
    arch = {**get_model("tiny-llama", REPO_MODELS).architecture, "vocab_size": 100}
    entry = _entry(architecture=arch, tokenizer={"kind": "synthetic", "vocab_size": 200})
    with pytest.raises(UserError, match="tokenizer has 200 ids"):
        build_model_dir(entry, "x", with_weights=False, root=tmp_path)


def test_no_architecture_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no 'architecture'"):
        build_model_dir(_entry(architecture={}), "x", with_weights=False, root=tmp_path)


def test_path_tokenizer_is_copied_and_sized(tmp_path: Path) -> None:
    src = tmp_path / "tok"
    src.mkdir()
    build_synthetic_tokenizer(src, 500, {"bos_token_id": 0, "eos_token_id": 1})
    arch = {**get_model("tiny-llama", REPO_MODELS).architecture, "vocab_size": 512}
    entry = _entry(architecture=arch, tokenizer={"kind": "path", "path": str(src)})
    built = build_model_dir(entry, "x", with_weights=False, root=tmp_path / "cache")
    assert built.vocab_size == 500
    assert (built.path / "tokenizer.json").read_text() == (src / "tokenizer.json").read_text()
    with pytest.raises(UserError, match="is not a directory"):
        build_model_dir(_entry(architecture=arch, tokenizer={"kind": "path", "path": str(tmp_path / "no")}),
                        "y", with_weights=False, root=tmp_path / "cache")
