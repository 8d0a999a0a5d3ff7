"""`tee-llm-prof models`: what models.yaml holds and how each model would be served."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from rich.console import Console

from profiler.config import ModelEntry, load_models, models_path

DESCRIPTION = """\
List the models of models.yaml: the key to pass to --model, the architecture (layers, hidden
size, vocabulary, approximate parameters), the engine that serves it when no endpoint is
given, the TEE-on / TEE-off endpoints if set, and the default load points.

examples:
  tee-llm-prof models
  tee-llm-prof models --models my-models.yaml --json
"""


def approx_params(arch: dict[str, Any]) -> float | None:
    """Parameters of a Llama-like decoder from its config (embeddings + attention + MLP)."""
    try:
        h, layers = int(arch["hidden_size"]), int(arch["num_hidden_layers"])
        inter, vocab = int(arch["intermediate_size"]), int(arch["vocab_size"])
        heads = int(arch["num_attention_heads"])
        kv = int(arch.get("num_key_value_heads", heads))
        head_dim = int(arch.get("head_dim") or h // heads)
    except (KeyError, TypeError, ValueError):
        return None
    attn = h * heads * head_dim * 2 + h * kv * head_dim * 2
    mlp = 3 * h * inter
    embed = vocab * h * (1 if arch.get("tie_word_embeddings") else 2)
    return float(layers * (attn + mlp + 2 * h) + embed + h)


def _rates(entry: ModelEntry) -> str:
    return ",".join("inf" if math.isinf(r) else f"{r:g}" for r in entry.workload.request_rates)


def describe(key: str, entry: ModelEntry) -> dict[str, Any]:
    arch = entry.architecture
    return {
        "key": key,
        "hf_id": entry.hf_id,
        "served_name": entry.served_name,
        "description": entry.description,
        "layers": arch.get("num_hidden_layers"),
        "hidden_size": arch.get("hidden_size"),
        "vocab_size": arch.get("vocab_size"),
        "params": approx_params(arch),
        "engine": entry.engine.name,
        "tee_on": entry.endpoints.tee_on,
        "tee_off": entry.endpoints.tee_off,
        "request_rates": _rates(entry),
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", default=None, metavar="PATH", help="models.yaml to read")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    models = load_models(args.models)
    rows = [describe(k, models[k]) for k in sorted(models)]
    console = Console()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from profiler.report import show
    from profiler.report.host_view import models_table

    show(console, models_table(f"models in {models_path(args.models)}", rows))
    console.print("profile one with: tee-llm-prof --model KEY")
    return 0
