"""Workloads: exact lengths, reproducibility, datasets; and the client-health verdict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catalog.registry import UnknownName
from loadgen.health import client_health, send_lag_ms
from loadgen.tokenizer import COUNTERS, TokenCounter, resolve_counter, words_counter
from loadgen.workload import DATASETS, DatasetArgs, build_prompts, exact_text

WORDS = words_counter("", None)


def test_dataset_registry() -> None:
    assert DATASETS.names() == ["lengths", "prefix", "random", "sharegpt"]
    assert COUNTERS.names() == ["endpoint", "hf", "words"]
    with pytest.raises(UnknownName, match="known: lengths, prefix, random, sharegpt"):
        build_prompts("nope", DatasetArgs(num=1))


def test_random_lengths_are_exact_and_seeded() -> None:
    a = build_prompts("random", DatasetArgs(num=20, input_len=37, output_len=11, seed=5), WORDS)
    b = build_prompts("random", DatasetArgs(num=20, input_len=37, output_len=11, seed=5), WORDS)
    c = build_prompts("random", DatasetArgs(num=20, input_len=37, output_len=11, seed=6), WORDS)
    assert [p.text for p in a] == [p.text for p in b] != [p.text for p in c]
    assert all(p.input_tokens == 37 == len(p.text.split()) and p.output_tokens == 11 for p in a)
    assert len({p.hash for p in a}) == 20


def test_range_ratio_spreads_lengths_within_bounds() -> None:
    ps = build_prompts("random", DatasetArgs(num=200, input_len=100, output_len=50, range_ratio=0.5), WORDS)
    ins = np.array([p.input_tokens for p in ps])
    outs = np.array([p.output_tokens for p in ps])
    assert ins.min() >= 50 and ins.max() <= 150 and ins.std() > 10
    assert outs.min() >= 25 and outs.max() <= 75


def test_prefix_dataset_shares_the_prefix() -> None:
    ps = build_prompts("prefix", DatasetArgs(num=5, input_len=10, prefix_len=30), WORDS)
    heads = {" ".join(p.text.split()[:30]) for p in ps}
    assert len(heads) == 1
    assert all(p.input_tokens == 40 for p in ps)
    assert len({p.text for p in ps}) == 5


def test_exact_text_converges_with_a_multi_token_counter() -> None:
    # a counter where every word costs its length in characters / 3 (rounded up), plus a BOS
    counter = TokenCounter("hf", lambda t: 1 + sum(-(-len(w) // 3) for w in t.split()))
    rng = np.random.default_rng(0)
    hits = 0
    for target in range(20, 60):
        text, got = exact_text(counter, target, rng)
        assert got == counter.count(text)  # the recorded count is the real one
        assert abs(got - target) <= 2
        hits += got == target
    assert hits >= 35


def test_sharegpt_file(tmp_path: Path) -> None:
    convs = [
        {"conversations": [{"from": "human", "value": " ".join(["q"] * (5 + i))},
                           {"from": "gpt", "value": " ".join(["a"] * (8 + i))}]}
        for i in range(6)
    ]
    short = [{"from": "human", "value": "too short"}, {"from": "gpt", "value": "x y z w"}]
    convs.append({"conversations": short})
    convs.append({"conversations": []})  # unusable: no turns
    path = tmp_path / "sg.json"
    path.write_text(json.dumps(convs))
    ps = build_prompts(f"sharegpt:{path}", DatasetArgs(num=10, seed=1), WORDS)
    assert len(ps) == 10  # 6 usable conversations, cycled in seeded order
    assert {p.input_tokens for p in ps} <= set(range(5, 11))
    assert all(p.output_tokens == p.input_tokens + 3 for p in ps)
    assert ps[6:] == ps[:4]  # fewer usable conversations than requests: cycled in order
    assert len(set(ps[:6])) == 6
    with pytest.raises(ValueError, match="needs a file"):
        build_prompts("sharegpt", DatasetArgs(num=1), WORDS)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        build_prompts(f"sharegpt:{tmp_path / 'bad.json'}", DatasetArgs(num=1), WORDS)


def test_hf_tokenizer_counts_like_the_tokenizer(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=60, special_tokens=["[UNK]"])
    tok.train_from_iterator(["the quick brown fox jumps over the lazy dog"] * 20, trainer=trainer)
    tok.save(str(tmp_path / "tokenizer.json"))
    counter = resolve_counter(str(tmp_path), None, None)
    assert counter.mode == "hf"
    text = "the fox"
    assert counter.count(text) == len(tok.encode(text).ids)
    ps = build_prompts("random", DatasetArgs(num=5, input_len=40), counter)
    assert all(p.input_tokens == counter.count(p.text) for p in ps)


def test_no_tokenizer_no_endpoint_falls_back_to_words() -> None:
    assert resolve_counter(None, None, None).mode == "words"


def _frame(sent: list[int], sched: list[int], connect: list[float] | None = None) -> pd.DataFrame:
    return pd.DataFrame({
        "sent_ns": sent, "scheduled_ns": sched,
        "connect_ms": connect or [float("nan")] * len(sent), "warmup": [False] * len(sent),
    })


def test_send_lag_excludes_reconnects() -> None:
    f = _frame([2_000_000, 12_000_000], [1_000_000, 1_000_000], [float("nan"), 10.0])
    assert send_lag_ms(f).tolist() == [1.0, 1.0]


def test_health_verdicts() -> None:
    ok = client_health(_frame([1_100_000] * 10, [1_000_000] * 10), [50_000] * 100, [0.2], [1.0])
    assert not ok["client_bound"] and ok["send_lag_ms"]["p99"] == pytest.approx(0.1)
    slow = client_health(_frame([9_000_000] * 10, [1_000_000] * 10), [50_000] * 100, [0.2], [1.0])
    assert slow["client_bound"] and "mean send lag 8.0 ms" in slow["message"]
    # one long stall among many punctual sends: p99 over its limit, mean under its limit
    sent = [1_000_000] * 296 + [61_000_000] * 4  # mean 0.8 ms, p99 60 ms
    stall = client_health(_frame(sent, [1_000_000] * 300), [0], [0.1], [1.0])
    assert stall["client_bound"] and "p99 send lag" in stall["message"] and "mean" not in stall["message"]
    assert "CLIENT was the bottleneck" in slow["message"]
    lag = client_health(_frame([1_000_000], [1_000_000]), [10_000_000] * 10, [0.2], [1.0])
    assert lag["client_bound"] and "event-loop lag" in lag["message"]
    cpu = client_health(_frame([1_000_000], [1_000_000]), [0], [0.97], [1.0])
    assert cpu["client_bound"] and "CPU 97%" in cpu["message"]


def test_lengths_replay_from_a_vllm_result_and_csv(tmp_path: Path) -> None:
    import gzip

    vllm = {"input_lens": [5, 9, 7], "output_lens": [3, 0, 4], "ttfts": [0.1, 0.0, 0.2]}
    gz = tmp_path / "res.json.gz"
    gz.write_bytes(gzip.compress(json.dumps(vllm).encode()))
    ps = build_prompts(f"lengths:{gz}", DatasetArgs(num=5), WORDS)
    # the failed request (output 0) is skipped; the rest replay in file order, cycled
    assert [(p.input_tokens, p.output_tokens) for p in ps] == [(5, 3), (7, 4), (5, 3), (7, 4), (5, 3)]
    csv = tmp_path / "l.csv"
    csv.write_text("input_tokens,output_tokens\n12,6\n20,2\n")
    ps = build_prompts(f"lengths:{csv}", DatasetArgs(num=2), WORDS)
    assert [(len(p.text.split()), p.output_tokens) for p in ps] == [(12, 6), (20, 2)]
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="needs one of input_len"):
        build_prompts(f"lengths:{tmp_path / 'bad.csv'}", DatasetArgs(num=1), WORDS)


def test_lengths_replay_reads_the_paper_raw_data() -> None:
    path = Path("/work/shared/data/phala-h200/tee_24cores_serving_llama70B_qps_1.json.gz")
    if not path.exists():
        pytest.skip("paper data not on this machine")
    import gzip

    from loadgen.workload import read_lengths

    raw = json.loads(gzip.decompress(path.read_bytes()))
    pairs = read_lengths(path)
    # 1000 requests, of which vLLM 0.5.4 recorded 304 with an output length of 0
    assert len(raw["input_lens"]) == 1000 and len(pairs) == 696
    assert pairs[0] == (raw["input_lens"][0], raw["output_lens"][0])


def test_exact_text_with_many_tokens_per_word() -> None:
    # a character-level tokenizer (+ BOS): ~4 tokens per word, the case of a tiny BPE vocabulary
    counter = TokenCounter("hf", lambda t: 1 + len(t.replace(" ", "")))
    rng = np.random.default_rng(1)
    for target in (8, 16, 50, 128, 300, 1000):
        text, got = exact_text(counter, target, rng)
        assert got == target == counter.count(text)


def test_coalesced_fraction_counts_zero_gaps_of_ok_requests() -> None:
    from loadgen.health import coalesced_fraction

    f = pd.DataFrame({
        "itl_ms": [[0.0, 5.0, 0.0, 5.0], [5.0, 5.0], [0.0, 0.0]],
        "ok": [True, True, False], "warmup": [False, False, False],
    })
    assert coalesced_fraction(f) == pytest.approx(2 / 6)
