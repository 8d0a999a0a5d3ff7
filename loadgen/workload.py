"""Workloads: seeded, reproducible prompt lists with known token counts.

Datasets register by name in :data:`DATASETS`; ``--dataset NAME[:ARG]`` picks one:

- ``random``:        random words with exact input/output lengths (``range_ratio`` spreads them
                     uniformly in ±ratio like vLLM's random dataset). Lengths are exact under
                     the counter used (tokenizer, the endpoint's /tokenize, or words);
- ``sharegpt:PATH``: a ShareGPT-format JSON file; first human turn = prompt, the reply's token
                     count = output length (vLLM's filters: both ≥ 4, prompt ≤ 1024, sum ≤ 2048);
- ``lengths:PATH``:  replay per-request (input, output) token counts from a vLLM result JSON
                     (``input_lens``/``output_lens``, ``.json.gz`` too), a JSON list or a CSV, in
                     file order, with random words (e.g. the Phala paper's raw results);
- ``prefix``:        a shared prefix of ``prefix_len`` tokens (default: ``input_len``) followed
                     by a unique random suffix of ``input_len`` tokens (vLLM's prefix semantics:
                     the prefix is extra).

The same seed gives the same prompts in the same order, so two legs can be paired by
``prompt_hash``. Token counting happens here, before any clock starts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from catalog.registry import Registry
from loadgen.tokenizer import TokenCounter, words_counter

#: Common English words; most are a single token in BPE vocabularies, which keeps
#: exact-length adjustment short. Capitalised variants widen the pool.
_WORDS = """
the of and to in is it you that he was for on are as with
his they at be this from have or by one had not but what all were
when we there can an your which their said if do will each about how up
out them then she many some so these would other into has more her two like
him see time could no make than first been its who now people my made over
did down only way find use may water long little very after words called just where
most know get through back much before go good new write our used me man too
any day same right look think also around another came come work three word must because
does part even place well such here take why things help put years different away again
off went old number great tell men say small every found
""".split()  # noqa: SIM905 - a word list reads better as text
WORDS: tuple[str, ...] = tuple(_WORDS + [w.capitalize() for w in _WORDS])


@dataclass(frozen=True)
class Prompt:
    text: str
    input_tokens: int  # under the counter that built it (see TokenCounter.mode)
    output_tokens: int  # max_tokens to ask for (sent with ignore_eos)

    @property
    def hash(self) -> str:
        return hashlib.sha1(self.text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DatasetArgs:
    num: int
    input_len: int = 128
    output_len: int = 128
    range_ratio: float = 0.0
    prefix_len: int = 0
    seed: int = 0
    arg: str | None = None  # what follows "name:" in --dataset


Dataset = Callable[[DatasetArgs, TokenCounter], list[Prompt]]
DATASETS: Registry[Dataset] = Registry("dataset")


def _lengths(rng: np.random.Generator, n: int, length: int, ratio: float) -> np.ndarray:
    lo = max(1, int(length * (1 - ratio)))
    hi = max(lo, int(length * (1 + ratio)))
    return rng.integers(lo, hi + 1, size=n)


#: Fillers for the last few tokens: punctuation is its own token in most BPE vocabularies.
_FILL = (".", ",", ";", "!", "?", ":")


def exact_text(
    counter: TokenCounter, target: int, rng: np.random.Generator, *, prefix: str = "", max_iter: int = 24
) -> tuple[str, int]:
    """Random words whose token count (prefix included) is ``target`` or as close as it gets.

    Words cost one token each under the word counter but several under a small BPE, so the
    word count is first scaled by the measured tokens per word, then adjusted a word at a time,
    and the last tokens are filled with punctuation. Returns the text and its real count (the
    caller records the real one, so an inexact prompt is never misreported).
    """
    base = counter.count(prefix) if prefix else 0
    words = [WORDS[i] for i in rng.integers(0, len(WORDS), size=max(1, target - base))]
    fill = ""
    best: tuple[int, str, int] | None = None
    for _ in range(max_iter):
        text = prefix + " ".join(words) + fill
        got = counter.count(text)
        if best is None or abs(got - target) < best[0]:
            best = (abs(got - target), text, got)
        diff = target - got
        if diff == 0:
            break
        per_word = max(got - base, 1) / len(words)
        if abs(diff) > 2 * per_word:  # far off: rescale by the measured tokens per word
            n = max(1, round(len(words) * max(target - base, 1) / max(got - base, 1)))
            if n > len(words):
                words.extend(WORDS[i] for i in rng.integers(0, len(WORDS), size=n - len(words)))
            else:
                words = words[:n]
            fill = ""
        elif diff < 0:
            if fill:
                fill = fill[:-1]
            elif len(words) > 1:
                words.pop()
            else:
                break
        else:  # a few tokens short: punctuation, usually one token each
            fill += _FILL[len(fill) % len(_FILL)]
    assert best is not None
    return best[1], best[2]


@DATASETS.register("random")
def random_dataset(a: DatasetArgs, counter: TokenCounter) -> list[Prompt]:
    rng = np.random.default_rng(a.seed)
    ins = _lengths(rng, a.num, a.input_len, a.range_ratio)
    outs = _lengths(rng, a.num, a.output_len, a.range_ratio)
    prompts = []
    for i in range(a.num):
        text, got = exact_text(counter, int(ins[i]), rng)
        prompts.append(Prompt(text, got, int(outs[i])))
    return prompts


@DATASETS.register("prefix")
def prefix_dataset(a: DatasetArgs, counter: TokenCounter) -> list[Prompt]:
    rng = np.random.default_rng(a.seed)
    prefix_len = a.prefix_len or a.input_len
    prefix, _ = exact_text(counter, prefix_len, rng)
    outs = _lengths(rng, a.num, a.output_len, a.range_ratio)
    ins = _lengths(rng, a.num, a.input_len, a.range_ratio)
    prompts = []
    for i in range(a.num):
        text, got = exact_text(counter, prefix_len + int(ins[i]), rng, prefix=prefix + " ")
        prompts.append(Prompt(text, got, int(outs[i])))
    return prompts


def _sharegpt_pairs(path: Path) -> list[tuple[str, str]]:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read ShareGPT file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of conversations")
    pairs = []
    for item in data:
        conv = item.get("conversations") if isinstance(item, dict) else None
        if not isinstance(conv, list) or len(conv) < 2:
            continue
        first, second = conv[0], conv[1]
        if isinstance(first, dict) and isinstance(second, dict):
            pairs.append((str(first.get("value", "")), str(second.get("value", ""))))
    return pairs


@DATASETS.register("sharegpt")
def sharegpt_dataset(a: DatasetArgs, counter: TokenCounter) -> list[Prompt]:
    if not a.arg:
        raise ValueError("the sharegpt dataset needs a file: --dataset sharegpt:PATH")
    pairs = _sharegpt_pairs(Path(a.arg))
    rng = np.random.default_rng(a.seed)
    order = rng.permutation(len(pairs))
    prompts: list[Prompt] = []
    for i in order:
        if len(prompts) >= a.num:
            break
        prompt, reply = pairs[int(i)]
        n_in, n_out = counter.count(prompt), counter.count(reply)
        if n_in < 4 or n_out < 4 or n_in > 1024 or n_in + n_out > 2048:
            continue  # vLLM's ShareGPT filters, so request mixes match benchmark_serving
        prompts.append(Prompt(prompt, n_in, n_out))
    if not prompts:
        raise ValueError(f"{a.arg}: no usable conversations (need two turns of ≥ 4 tokens)")
    # fewer usable conversations than requests: cycle, in the same seeded order
    return [prompts[i % len(prompts)] for i in range(a.num)]


_IN_KEYS = ("input_len", "input_tokens", "prompt_len", "prompt_tokens")
_OUT_KEYS = ("output_len", "output_tokens", "completion_tokens")


def _pick(row: dict[str, object], keys: tuple[str, ...]) -> object:
    for k in keys:
        if k in row:
            return row[k]
    raise ValueError(f"a row needs one of {', '.join(keys)}; got {', '.join(map(str, row))}")


def read_lengths(path: Path) -> list[tuple[int, int]]:
    """(input, output) token counts per request, in file order, from a vLLM result JSON (its
    ``input_lens``/``output_lens``; ``.gz`` too), a JSON list of pairs or objects, or a CSV with
    ``input_len,output_len`` (or ``input_tokens,output_tokens``) columns."""
    import csv
    import gzip
    import io

    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read lengths file {path}: {exc.strerror}") from None
    text = raw.decode("utf-8", "replace")
    pairs: list[tuple[object, object]] = []
    if path.name.removesuffix(".gz").endswith(".csv"):
        pairs = [(_pick(r, _IN_KEYS), _pick(r, _OUT_KEYS)) for r in csv.DictReader(io.StringIO(text))]
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from None
        if isinstance(data, dict) and "input_lens" in data and "output_lens" in data:
            pairs = list(zip(data["input_lens"], data["output_lens"], strict=False))
        elif isinstance(data, list):
            for item in data:
                pairs.append(
                    (_pick(item, _IN_KEYS), _pick(item, _OUT_KEYS)) if isinstance(item, dict)
                    else (item[0], item[1])
                )
        else:
            raise ValueError(f"{path}: expected input_lens/output_lens, a list of pairs, or a CSV")
    try:
        out = [(int(a), int(b)) for a, b in pairs]  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ValueError(f"{path}: token counts must be integers") from None
    # failed requests of a vLLM result have output 0: they carry no length to replay
    return [(a, b) for a, b in out if a > 0 and b > 0]


@DATASETS.register("lengths")
def lengths_dataset(a: DatasetArgs, counter: TokenCounter) -> list[Prompt]:
    """Replay per-request lengths (e.g. a paper's raw results) with random words, in file order."""
    if not a.arg:
        raise ValueError("the lengths dataset needs a file: --dataset lengths:PATH")
    pairs = read_lengths(Path(a.arg))
    if not pairs:
        raise ValueError(f"{a.arg}: no request with input and output lengths > 0")
    rng = np.random.default_rng(a.seed)
    prompts = []
    for i in range(a.num):
        n_in, n_out = pairs[i % len(pairs)]
        text, got = exact_text(counter, n_in, rng)
        prompts.append(Prompt(text, got, n_out))
    return prompts


def parse_dataset(spec: str) -> tuple[str, str | None]:
    name, _, arg = spec.partition(":")
    return name, (arg or None)


def build_prompts(
    dataset: str, args: DatasetArgs, counter: TokenCounter | None = None
) -> list[Prompt]:
    """Prompts for ``--dataset NAME[:ARG]`` (unknown names list the known ones)."""
    name, arg = parse_dataset(dataset)
    fn = DATASETS.get(name)
    a = replace(args, arg=arg if arg is not None else args.arg)
    return fn(a, counter or words_counter("", None))
