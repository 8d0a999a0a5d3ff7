"""vLLM benchmark JSON → run directory; the paper's 70B row reproduced from the raw data."""

from __future__ import annotations

import csv
import gzip
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from profiler.analysis.compare import compare_runs as compare_model
from profiler.errors import UserError
from profiler.importers import import_file
from profiler.store import read_run

DATA = Path(__file__).resolve().parents[1].parent / "shared/data/phala-h200"
needs_data = pytest.mark.skipif(
    not (DATA / "h200_24c_combined_results.csv").is_file(),
    reason=f"paper data not found at {DATA} (CI keeps shared/ beside the clone)",
)


def compare_runs(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The comparison as comparison.json holds it (the typed model, dumped)."""
    return compare_model(*args, **kwargs).model_dump()


QPS1 = "24cores_serving_llama70B_qps_1.json.gz"


def sig4(x: float) -> str:
    return f"{x:.4g}"


@pytest.fixture(scope="module")
def qps1(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not (DATA / "h200_24c_combined_results.csv").is_file():
        pytest.skip(f"paper data not found at {DATA}")
    root = tmp_path_factory.mktemp("phala")
    on = import_file(
        "vllm-bench", DATA / "tee_24cores_serving_llama70B_qps_1.json.gz", root / "on", label="on"
    )
    off = import_file(
        "vllm-bench", DATA / "base_24cores_serving_llama70B_qps_1.json.gz", root / "off", label="off"
    )
    result = compare_runs(on, off, root / "cmp", paper_compat=True, n_boot=300, seed=1)
    return {"on": on[0], "off": off[0], "result": result, "cmp": root / "cmp"}


@needs_data
def test_paper_compat_reproduces_the_authors_70b_row(qps1: dict) -> None:
    with (DATA / "h200_24c_combined_results.csv").open() as fh:
        row = next(r for r in csv.DictReader(fh) if "llama70B" in r["filename_tee_on"])
    paper = qps1["result"]["paper_compat"]
    assert "paper-compatible" in paper["label"]
    for leg, suffix in (("on", "tee_on"), ("off", "tee_off")):
        view = paper[leg]
        assert view["samples"] == int(row[f"total_samples_{suffix}"])
        assert sig4(view["ttft_s"]) == sig4(float(row[f"ttft_{suffix}"]))
        assert sig4(view["itl_s"]) == sig4(float(row[f"itl_{suffix}"]))
        assert sig4(view["tps"]) == sig4(float(row[f"tps_{suffix}"]))
        for bucket in ("short", "medium", "long"):
            assert view["buckets"][bucket]["count"] == int(row[f"{bucket}_total_{suffix}"])
            assert sig4(view["buckets"][bucket]["tps"]) == sig4(float(row[f"{bucket}_tps_{suffix}"]))
    # The README's figures, independently of the csv parsing above.
    assert (paper["on"]["samples"], paper["off"]["samples"]) == (692, 692)
    assert [paper["on"]["buckets"][b]["count"] for b in ("short", "medium", "long")] == [86, 434, 172]
    assert [paper["off"]["buckets"][b]["count"] for b in ("short", "medium", "long")] == [89, 432, 171]
    assert (sig4(paper["on"]["ttft_s"]), sig4(paper["off"]["ttft_s"])) == ("0.43", "0.4274")


@needs_data
def test_standard_view_of_the_pair_is_paired_and_flags_the_short_outputs(qps1: dict) -> None:
    result = qps1["result"]
    assert result["method"]["bootstrap"] == "paired"  # same input_lens sequence in both files
    codes = {w["code"] for w in result["warnings"]}
    assert "short_outputs" in codes and "single_run" in codes
    short = next(w for w in result["warnings"] if w["code"] == "short_outputs")
    assert "31%" in short["message"]
    tps = next(m for m in result["metrics"] if m["metric"] == "output_throughput")
    assert tps["ci_low"] is None and tps["significant"] is None  # no timestamps, one run: no CI
    for m in result["metrics"]:
        if m["ci_low"] is not None:
            assert m["ci_low"] <= m["overhead_pct"] <= m["ci_high"] or m["stat"].startswith("p")
    assert json.loads((qps1["cmp"] / "comparison.json").read_text())["kind"] == "comparison"


@needs_data
def test_import_keeps_everything_and_states_what_is_missing(qps1: dict) -> None:
    run = read_run(qps1["on"])
    raw = json.loads(gzip.decompress((DATA / f"tee_{QPS1}").read_bytes()))
    frame = run.requests
    assert len(frame) == 1000
    assert list(frame["input_tokens"]) == raw["input_lens"]
    assert list(frame["output_tokens"]) == raw["output_lens"]
    assert frame["generated_text"].iloc[1] == raw["generated_texts"][1]
    np.testing.assert_allclose(frame["itl_ms"].iloc[0], np.array(raw["itls"][0]) * 1e3)
    # The file's own summary survives untouched (vLLM averages TTFT 0 for content-less requests).
    assert run.llm.get("mean_ttft_ms") == raw["mean_ttft_ms"]
    assert run.manifest.model_dump()["source_summary"]["mean_ttft_ms"] == raw["mean_ttft_ms"]
    assert run.manifest.model_dump()["source"]["format"] == "benchmark_serving-v0.5"
    missing = " ".join(run.manifest.missing)
    assert "sent_ns" in missing and "scheduled_ns" in missing
    assert frame["sent_ns"].isna().all() and frame["scheduled_ns"].isna().all()
    # 304 requests streamed no content: TTFT undefined, not 0, and the manifest says so.
    empty = np.array(raw["ttfts"]) == 0
    assert empty.sum() == 304
    assert frame.loc[empty, "ttft_ms"].isna().all() and frame.loc[~empty, "ttft_ms"].notna().all()
    assert any("304 requests" in n for n in run.manifest.notes)


def _current_result(n: int = 4) -> dict:
    """A `vllm bench serve --save-result --save-detailed` object (shape of vllm 0.32's serve.py)."""
    start = 1000.0
    return {
        "date": "20261126-050000",
        "backend": "openai",
        "model_id": "tiny",
        "tokenizer_id": "tiny",
        "num_prompts": n,
        "request_rate": "inf",
        "burstiness": 1.0,
        "max_concurrency": 2,
        "duration": 2.0,
        "completed": n - 1,
        "failed": 1,
        "mean_ttft_ms": 10.0,
        "input_lens": [10, 20, 30, 40][:n],
        "output_lens": [3, 2, 0, 4][:n],
        "ttfts": [0.010, 0.020, 0.0, 0.015][:n],
        "itls": [[0.005, 0.006], [0.004], [], [0.001, 0.002, 0.003]][:n],
        "latencies": [0.022, 0.025, 0.0, 0.030][:n],
        "start_times": [start, start + 0.1, start + 0.2, start + 0.3][:n],
        "queue_times": [0.0, 0.0, 0.001, 0.002][:n],
        "generated_texts": ["a b c", "d e", "", "f g h i"][:n],
        "errors": ["", "", "HTTP 500", ""][:n],
    }


def test_current_format_gives_timestamps_and_definitions(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_current_result()))
    (run_dir,) = import_file("vllm-bench", path, tmp_path / "runs", label="off", model="tiny-llama")
    run = read_run(run_dir)
    f = run.requests
    assert run.manifest.model_dump()["source"]["format"] == "vllm-bench-serve"
    assert run.manifest.model == "tiny-llama" and run.manifest.label == "off"
    assert list(f["ok"]) == [True, True, False, True]
    assert f["error"].iloc[2] == "HTTP 500"
    assert f["ttft_ms"].iloc[0] == pytest.approx(10.0)
    assert f["e2el_ms"].iloc[0] == pytest.approx(10.0 + 5.0 + 6.0)  # ttft + Σitl = last content − send
    assert f["vllm_latency_ms"].iloc[0] == pytest.approx(22.0)  # vLLM's stream end, kept beside it
    assert f["tpot_ms"].iloc[0] == pytest.approx(11.0 / 2)
    assert f["tpot_ms"].iloc[1] == pytest.approx(4.0)
    assert math.isnan(f["ttft_ms"].iloc[2])
    assert int(f["sent_ns"].iloc[1]) == 1000_100_000_000
    assert int(f["first_ns"].iloc[1]) - int(f["sent_ns"].iloc[1]) == 20_000_000
    assert int(f["last_ns"].iloc[3]) - int(f["sent_ns"].iloc[3]) == 21_000_000
    assert f["client_queue_ms"].iloc[3] == pytest.approx(2.0)
    assert "sent_ns/first_ns/last_ns: v0.5.x" not in " ".join(run.manifest.missing)
    assert run.llm.get("mean_ttft_ms") == 10.0  # the file's value wins
    assert run.llm.get("p90_ttft_ms") is not None and "p90_ttft_ms" in run.manifest.summary_recomputed_keys


def test_gzip_and_append_result_files_give_one_run_per_result(tmp_path: Path) -> None:
    path = tmp_path / "r.json.gz"
    lines = "\n".join(json.dumps(_current_result()) for _ in range(3))
    path.write_bytes(gzip.compress(lines.encode()))
    runs = import_file("vllm-bench", path, tmp_path / "runs", label="on")
    assert len(runs) == 3
    assert [read_run(r).manifest.model_dump()["source"]["index"] for r in runs] == [0, 1, 2]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json at all", "not a vLLM benchmark JSON"),
        (json.dumps({"duration": 1.0, "completed": 3}).encode(), "--save-detailed"),
        (json.dumps({**_current_result(), "itls": [[0.1]]}).encode(), "itls has 1 entries"),
        (json.dumps(_current_result()).replace('"completed": 3', '"completed": ' + "9" * 5001).encode(),
         "4300 digits"),
        (json.dumps({**_current_result(), "input_lens": [10, "x", 30, 40]}).encode(),
         "input_lens holds a value that is not a number"),
        (json.dumps(_current_result()).replace("0.015]", "1e309]").encode(), "ttfts holds a value"),
        (json.dumps({**_current_result(), "completed": 1e29}).encode(), "completed = 1e"),
        (json.dumps({**_current_result(), "mean_ttft_ms": 1e309}).replace("Infinity", "1e309").encode(),
         "mean_ttft_ms = inf is not a finite number"),
        (gzip.compress(json.dumps(_current_result()).encode())[:40], "truncated gzip"),
    ],
)
def test_bad_files_are_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message.replace("-", r"\-")) as err:
        import_file("vllm-bench", path, tmp_path / "runs", label="on")
    assert "\n" not in str(err.value) and not (tmp_path / "runs").exists()  # nothing half-written
    with pytest.raises(UserError, match="no such file"):
        import_file("vllm-bench", tmp_path / "absent.json", tmp_path / "runs", label="on")
    with pytest.raises(UserError, match="not a regular file"):
        import_file("vllm-bench", Path("/dev/null"), tmp_path / "runs", label="on")
    with pytest.raises(UserError, match="is a directory"):
        import_file("vllm-bench", tmp_path, tmp_path / "runs", label="on")


def test_import_command_writes_and_lists_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from profiler.commands import import_ as import_cmd

    path = tmp_path / "r.json"
    path.write_text(json.dumps(_current_result()))
    parser = argparse.ArgumentParser()
    import_cmd.add_arguments(parser)
    args = parser.parse_args(["vllm-bench", str(path), "--label", "on", "--out", str(tmp_path / "runs")])
    assert import_cmd.run(args) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert read_run(run_dir).manifest.label == "on"
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "rate=inf" in line)
    assert "concurrency=2" in row and row.split("│")[3].strip() == "4" and row.split("│")[4].strip() == "3"
    assert "missing" in out
