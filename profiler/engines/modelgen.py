"""Build model directories offline: the tiny generated model and dummy-weight configs (DESIGN §7).

Nothing here downloads anything. A model directory holds ``config.json`` (the architecture from
models.yaml), tokenizer files and, for the generated tiny model, random weights as safetensors.

- ``generated-bpe``: a byte-level BPE trained with ``tokenizers`` on a deterministic synthetic
  corpus; the model's ``vocab_size`` is set to what training produced.
- ``synthetic``: a word-level tokenizer of exactly ``vocab_size`` entries (the real model's size,
  e.g. 128256 for Llama-3.1) so that ``--load-format dummy`` weights and the tokenizer agree on
  every id the random model can emit. Text round-trips exactly: one token per space-separated word.
- ``path``: an existing tokenizer directory, used as is.

Directories are cached by a hash of everything that shapes them and built into a temporary
directory that is renamed into place, so concurrent builders never see a half-written model.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from catalog.registry import Registry
from profiler.config import ModelEntry, TokenizerSpec
from profiler.errors import MissingExtra, UserError

#: Bump when the bytes a builder writes change, so caches are rebuilt.
BUILDER_VERSION = 2
CACHE_ENV = "TEE_LLM_PROF_CACHE"
COMPLETE = ".complete"
BOS, EOS, UNK = "<|begin_of_text|>", "<|end_of_text|>", "<|unk|>"
#: A minimal chat template so the chat API works with generated tokenizers.
CHAT_TEMPLATE = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"


@dataclass(frozen=True)
class ModelDir:
    """A built model directory and what the engine needs to know about it."""

    path: Path
    tokenizer_path: Path
    vocab_size: int
    has_weights: bool  # False: serve with --load-format dummy
    digest: str


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tee-llm-prof"


# --------------------------------------------------------------------------- tokenizers


def _words(n: int, seed: int) -> list[str]:
    """Deterministic pronounceable pseudo-words (the tiny BPE's training corpus)."""
    rng = random.Random(seed)
    cons, vow = "bcdfghklmnprstvz", "aeiou"
    out = []
    for _ in range(n):
        syl = rng.randint(1, 3)
        out.append("".join(rng.choice(cons) + rng.choice(vow) for _ in range(syl)))
    return out


def _require_tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise MissingExtra("tokenizers", "cpu") from None
    return tokenizers


def _special_ids(arch: dict[str, Any], vocab_size: int) -> tuple[int, int]:
    bos = arch.get("bos_token_id", 0)
    eos = arch.get("eos_token_id", 1)
    eos = eos[0] if isinstance(eos, list) else eos
    bos, eos = int(bos), int(eos)
    if not (0 <= bos < vocab_size and 0 <= eos < vocab_size) or bos == eos:
        raise UserError(f"bos/eos token ids {bos}/{eos} do not fit a vocabulary of {vocab_size}")
    return bos, eos


def build_bpe_tokenizer(out: Path, vocab_size: int, seed: int) -> int:
    """Train a byte-level BPE on a synthetic corpus; return the vocabulary size it reached.

    The alphabet is printable ASCII only (not all 256 bytes): every token then decodes to
    complete, non-empty text, so a random model streams exactly one content event per token.
    With lone UTF-8 continuation bytes in the vocabulary, vLLM holds such tokens back and sends
    empty events, which would make the event count differ from the token count (ITL, DESIGN §3).
    """
    tk = _require_tokenizers()
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = tk.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS, EOS],
        show_progress=False,
    )
    words = _words(20_000, seed)
    corpus = [" ".join(words[i : i + 20]) for i in range(0, len(words), 20)]
    corpus.append("".join(chr(c) for c in range(32, 127)))  # every printable ASCII character
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.save(str(out / "tokenizer.json"))
    _write_tokenizer_config(out, bos=BOS, eos=EOS)
    return int(tok.get_vocab_size())


def build_synthetic_tokenizer(out: Path, vocab_size: int, arch: dict[str, Any]) -> int:
    """A word-level tokenizer with exactly ``vocab_size`` ids; bos/eos at the config's ids."""
    tk = _require_tokenizers()
    from tokenizers import models, pre_tokenizers

    bos, eos = _special_ids(arch, vocab_size)
    vocab: dict[str, int] = {}
    letters = "abcdefghijklmnopqrstuvwxyz"
    word_id = 0
    for i in range(vocab_size):
        if i == bos:
            vocab[BOS] = i
        elif i == eos:
            vocab[EOS] = i
        elif UNK not in vocab:
            vocab[UNK] = i
        else:
            # bijective base-26 numbering: a..z, aa..zz, aaa… — short, distinct, whitespace-free
            n, word = word_id, ""
            while True:
                word = letters[n % 26] + word
                n = n // 26 - 1
                if n < 0:
                    break
            vocab[word] = i
            word_id += 1
    tok = tk.Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens([BOS, EOS, UNK])
    tok.save(str(out / "tokenizer.json"))
    _write_tokenizer_config(out, bos=BOS, eos=EOS, unk=UNK)
    return int(tok.get_vocab_size())


def _write_tokenizer_config(out: Path, *, bos: str, eos: str, unk: str | None = None) -> None:
    cfg: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": bos,
        "eos_token": eos,
        "model_max_length": 1_000_000,
        "clean_up_tokenization_spaces": False,
        "chat_template": CHAT_TEMPLATE,
    }
    if unk:
        cfg["unk_token"] = unk
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    special = {"bos_token": bos, "eos_token": eos, **({"unk_token": unk} if unk else {})}
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")


TokenizerBuilder = Callable[[Path, TokenizerSpec, dict[str, Any], int], int]
TOKENIZERS: Registry[TokenizerBuilder] = Registry("tokenizer kind")


def _bpe(out: Path, spec: TokenizerSpec, arch: dict[str, Any], seed: int) -> int:
    return build_bpe_tokenizer(out, spec.vocab_size or 320, seed)


def _synthetic(out: Path, spec: TokenizerSpec, arch: dict[str, Any], seed: int) -> int:
    size = spec.vocab_size or arch.get("vocab_size")
    if not size:
        raise UserError("a synthetic tokenizer needs tokenizer.vocab_size or architecture.vocab_size")
    return build_synthetic_tokenizer(out, int(size), arch)


def _path(out: Path, spec: TokenizerSpec, arch: dict[str, Any], seed: int) -> int:
    src = Path(spec.path or "").expanduser()
    if not spec.path or not src.is_dir():
        raise UserError(f"tokenizer.path {spec.path!r} is not a directory")
    for f in src.iterdir():
        if f.is_file() and ("token" in f.name or f.suffix in (".model", ".tiktoken")):
            shutil.copy2(f, out / f.name)
    tk = _require_tokenizers()
    return int(tk.Tokenizer.from_file(str(out / "tokenizer.json")).get_vocab_size())


TOKENIZERS.add("generated-bpe", _bpe)
TOKENIZERS.add("synthetic", _synthetic)
TOKENIZERS.add("path", _path)


# --------------------------------------------------------------------------- weights


def llama_tensors(
    arch: dict[str, Any], seed: int, special_ids: tuple[int, ...] = ()
) -> dict[str, np.ndarray]:
    """Random Llama weights (float32, N(0, 0.02); norms = 1) named as HF/vLLM expect."""
    rng = np.random.default_rng(seed)
    h = int(arch["hidden_size"])
    inter = int(arch["intermediate_size"])
    vocab = int(arch["vocab_size"])
    heads = int(arch["num_attention_heads"])
    kv = int(arch.get("num_key_value_heads", heads))
    head_dim = int(arch.get("head_dim", h // heads))

    def w(*shape: int) -> np.ndarray:
        return rng.normal(0.0, 0.02, size=shape).astype(np.float32)

    t: dict[str, np.ndarray] = {"model.embed_tokens.weight": w(vocab, h)}
    for i in range(int(arch["num_hidden_layers"])):
        p = f"model.layers.{i}."
        t[p + "self_attn.q_proj.weight"] = w(heads * head_dim, h)
        t[p + "self_attn.k_proj.weight"] = w(kv * head_dim, h)
        t[p + "self_attn.v_proj.weight"] = w(kv * head_dim, h)
        t[p + "self_attn.o_proj.weight"] = w(h, heads * head_dim)
        t[p + "mlp.gate_proj.weight"] = w(inter, h)
        t[p + "mlp.up_proj.weight"] = w(inter, h)
        t[p + "mlp.down_proj.weight"] = w(h, inter)
        t[p + "input_layernorm.weight"] = np.ones(h, np.float32)
        t[p + "post_attention_layernorm.weight"] = np.ones(h, np.float32)
    t["model.norm.weight"] = np.ones(h, np.float32)
    head = w(vocab, h)
    # Zero rows give the special tokens a logit of exactly 0 while hundreds of others are
    # random: greedy decoding then never emits them, so no event is an empty (skipped) token.
    for sid in special_ids:
        head[sid] = 0.0
    if arch.get("tie_word_embeddings", False):
        t["model.embed_tokens.weight"][list(special_ids)] = 0.0
    else:
        t["lm_head.weight"] = head
    return t


def save_weights(out: Path, tensors: dict[str, np.ndarray], dtype: str) -> None:
    try:
        import torch
        from safetensors.torch import save_file
    except ImportError:
        raise MissingExtra("torch", "cpu") from None
    tdtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(dtype, torch.float32)
    save_file(
        {k: torch.from_numpy(v).to(tdtype).contiguous() for k, v in tensors.items()},
        str(out / "model.safetensors"),
        metadata={"format": "pt"},
    )


# --------------------------------------------------------------------------- the directory


def model_digest(entry: ModelEntry, with_weights: bool) -> str:
    blob = json.dumps(
        {
            "v": BUILDER_VERSION,
            "arch": entry.architecture,
            "tok": entry.tokenizer.model_dump(),
            "seed": entry.seed,
            "weights": with_weights,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def build_model_dir(
    entry: ModelEntry, key: str, *, with_weights: bool, root: Path | None = None
) -> ModelDir:
    """Build (or reuse from the cache) the directory vLLM serves for ``entry``."""
    if not entry.architecture:
        raise UserError(f"model {key!r} has no 'architecture' in models.yaml; cannot build it offline")
    digest = model_digest(entry, with_weights)
    root = Path(root) if root else cache_root() / "models"
    final = root / f"{key}-{digest}"
    if (final / COMPLETE).is_file():
        info = json.loads((final / COMPLETE).read_text())
        return ModelDir(final, final, int(info["vocab_size"]), with_weights, digest)

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
    tmp.chmod(0o755)
    try:
        arch = dict(entry.architecture)
        vocab = TOKENIZERS.get(entry.tokenizer.kind)(tmp, entry.tokenizer, arch, entry.seed)
        declared = arch.get("vocab_size")
        if entry.tokenizer.kind == "generated-bpe" or declared is None:
            arch["vocab_size"] = vocab  # the generated model is sized to its tokenizer
        elif vocab > int(declared):
            raise UserError(
                f"model {key!r}: tokenizer has {vocab} ids but architecture.vocab_size is {declared}"
            )
        (tmp / "config.json").write_text(json.dumps(arch, indent=2, sort_keys=True) + "\n")
        if with_weights:
            if arch.get("model_type") != "llama":
                raise UserError(f"model {key!r}: generated weights exist for llama only; use dummy")
            specials = _special_ids(arch, int(arch["vocab_size"]))
            tensors = llama_tensors(arch, entry.seed, specials)
            save_weights(tmp, tensors, str(arch.get("torch_dtype", "float32")))
        (tmp / COMPLETE).write_text(json.dumps({"vocab_size": vocab, "digest": digest}) + "\n")
        try:
            os.replace(tmp, final)
        except OSError:  # another process won the race; theirs is identical
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ModelDir(final, final, vocab, with_weights, digest)
