"""vLLM benchmark results (``--save-result``) → run directories.

Two shapes are read, plain ``.json`` or ``.json.gz``, one object per file or one per line
(``--append-result``):

- v0.5.x ``benchmarks/benchmark_serving.py --save-result``: per request ``input_lens``,
  ``output_lens``, ``ttfts`` (s), ``itls`` (list of s), ``generated_texts``, ``errors``; no send
  times, no end-of-stream latency.
- current ``vllm bench serve --save-result --save-detailed``: the same plus ``latencies``,
  ``start_times`` (``time.perf_counter()`` seconds at send) and ``queue_times``.

DESIGN §3 metrics are rebuilt per request: TTFT = ttft; ITL = the file's gaps; E2EL = TTFT + ΣITL
(= last content event − send, exactly as vLLM's client measured them); TPOT = ΣITL / (n − 1) with
n = the file's output length. vLLM's own ``latency`` (stream end, after the usage chunk) is kept
as ``vllm_latency_ms``. Columns the file cannot give stay null and are listed under ``missing``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from catalog.metrics import METRICS
from loadgen.metrics import NS_PER_S, summarize
from profiler.errors import UserError
from profiler.importers import IMPORTERS, Importer
from profiler.results.run import RunSummary
from profiler.store import write_run

NAME = "vllm-bench"

#: Per-request arrays of the file (everything else is the summary or run metadata).
PER_REQUEST_KEYS = (
    "input_lens",
    "output_lens",
    "ttfts",
    "itls",
    "latencies",
    "start_times",
    "queue_times",
    "generated_texts",
    "errors",
)
REQUIRED_KEYS = ("input_lens", "output_lens", "ttfts", "itls")


def read_results(path: Path) -> list[dict[str, Any]]:
    """The result objects in ``path`` (one, or one per line for ``--append-result`` files)."""
    if path.is_dir():
        raise UserError(f"{path}: is a directory, not a vLLM result file")
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if not path.is_file():
        raise UserError(f"{path}: not a regular file (a vLLM --save-result .json or .json.gz)")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:  # a truncated file raises EOFError
            raise UserError(f"{path}: broken or truncated gzip file ({exc})") from None
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        raise UserError(f"{path}: empty file (expected vLLM's --save-result JSON)")
    try:
        data = json.loads(text)
        objs = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        try:
            objs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise UserError(
                f"{path}: not a vLLM benchmark JSON file ({exc.msg} at line {exc.lineno})"
            ) from None
        except ValueError as exc:  # an integer of thousands of digits
            raise UserError(f"{path}: not a vLLM benchmark JSON file ({exc})".split(";")[0]) from None
    except ValueError as exc:
        raise UserError(f"{path}: not a vLLM benchmark JSON file ({exc})".split(";")[0]) from None
    if not objs or not all(isinstance(o, dict) for o in objs):
        raise UserError(f"{path}: expected a JSON object from vLLM's --save-result")
    return objs


def detect_format(result: dict[str, Any]) -> str:
    return "vllm-bench-serve" if "start_times" in result else "benchmark_serving-v0.5"


def to_frame(result: dict[str, Any], source: str) -> tuple[pd.DataFrame, list[str], list[str]]:
    """requests.parquet rows from one result, and the list of what the file lacks."""
    absent = [k for k in REQUIRED_KEYS if k not in result]
    if absent:
        hint = " (rerun `vllm bench serve` with --save-detailed)" if "ttfts" in absent else ""
        raise UserError(f"{source}: no per-request data: missing {', '.join(absent)}{hint}")
    n = len(result["ttfts"])
    for key in PER_REQUEST_KEYS:
        if key in result and result[key] is not None and len(result[key]) != n:
            raise UserError(f"{source}: {key} has {len(result[key])} entries, ttfts has {n}")

    ttft_s = _numbers(result, "ttfts", source)
    try:
        itl_s = [np.asarray(x or [], dtype=float) for x in result["itls"]]
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{source}: itls holds a value that is not a list of numbers") from None
    if not all(np.isfinite(x).all() for x in itl_s):
        raise UserError(f"{source}: itls holds a value that is not finite")
    decode_s = np.array([x.sum() for x in itl_s])
    out_len = _numbers(result, "output_lens", source)
    in_len = _numbers(result, "input_lens", source)
    for key, lens in (("input_lens", in_len), ("output_lens", out_len)):
        if not (np.isfinite(lens).all() and (lens == np.round(lens)).all() and (lens >= 0).all()):
            raise UserError(f"{source}: {key} holds a value that is not a whole number of tokens")
    errors = [str(e) if e else "" for e in result.get("errors") or [""] * n]
    ok = np.array([not e for e in errors])
    # vLLM leaves ttft at 0 when no content ever arrived (an empty completion still "succeeds").
    # DESIGN §3 has no first content event then: TTFT/E2EL/TPOT are undefined, not 0.
    content = ok & (ttft_s > 0)

    def where_ok(values: np.ndarray) -> np.ndarray:
        return np.where(content, values, np.nan)

    notes: list[str] = []
    missing = [
        "scheduled_ns: the file has no intended send times (client lag cannot be known)",
        "connect_ms: not measured by vLLM's client",
    ]
    frame = pd.DataFrame(
        {
            "request_id": np.arange(n, dtype=np.int64),
            "ttft_ms": where_ok(ttft_s * 1e3),
            "tpot_ms": where_ok(np.where(out_len > 1, decode_s * 1e3 / np.maximum(out_len - 1, 1), np.nan)),
            "e2el_ms": where_ok((ttft_s + decode_s) * 1e3),
            "itl_ms": [list(x * 1e3) if k else [] for x, k in zip(itl_s, content, strict=True)],
            "input_tokens": in_len.astype(np.int64),
            "output_tokens": out_len.astype(np.int64),
            "ok": ok,
            "error": [e or None for e in errors],
            "connect_ms": np.full(n, np.nan),
            "scheduled_ns": pd.array([None] * n, dtype="Int64"),
        }
    )
    starts = result.get("start_times")
    if starts is not None and len(starts):
        sent = np.asarray(starts, dtype=float)
        frame["sent_ns"] = pd.array(np.round(sent * NS_PER_S).astype(np.int64), dtype="Int64")
        first = np.round((sent + ttft_s) * NS_PER_S).astype(np.int64)
        last = np.round((sent + ttft_s + decode_s) * NS_PER_S).astype(np.int64)
        frame["first_ns"] = _nullable(first, content)
        frame["last_ns"] = _nullable(last, content)
    else:
        for col in ("sent_ns", "first_ns", "last_ns"):
            frame[col] = pd.array([None] * n, dtype="Int64")
        missing.append("sent_ns/first_ns/last_ns: v0.5.x files have no send or arrival timestamps")
    if result.get("latencies") is not None:
        lat = np.asarray(result["latencies"], dtype=float)
        frame["vllm_latency_ms"] = where_ok(lat * 1e3)
        if starts is not None and len(starts):
            end = np.round((np.asarray(starts, dtype=float) + lat) * NS_PER_S).astype(np.int64)
            frame["end_ns"] = _nullable(end, ok)
    else:
        missing.append("vllm_latency_ms: no stream-end latency in this file format")
    if result.get("queue_times") is not None:
        frame["client_queue_ms"] = np.asarray(result["queue_times"], dtype=float) * 1e3
    if result.get("generated_texts") is not None:
        frame["generated_text"] = [str(t) if t is not None else None for t in result["generated_texts"]]
    empty = int((ok & ~content).sum())
    if empty:
        notes.append(
            f"{empty} requests succeeded without any content: vLLM's summary counts their TTFT as 0; "
            "here TTFT/TPOT/E2EL are undefined for them (no first content event)"
        )
    missing.append("itl_ms: gaps between content chunks as vLLM's client saw them (not per-chunk stamps)")
    missing.append("max_tokens: the requested output length per request is not saved")
    missing.append("prompt_hash: prompts are not saved (pairing uses the input_lens sequence)")
    return frame, missing, notes


def _numbers(result: dict[str, Any], key: str, source: str) -> np.ndarray:
    """A per-request array as floats; one line naming the key when an entry is not a number."""
    values = result[key]
    if not isinstance(values, list) or any(isinstance(v, (bool, str)) for v in values):
        raise UserError(f"{source}: {key} holds a value that is not a number")
    try:
        out = np.asarray(values, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{source}: {key} holds a value that is not a number") from None
    if not np.isfinite(out).all():
        raise UserError(f"{source}: {key} holds a value that is not finite (1e309 reads as infinity)")
    return out


def _nullable(values: np.ndarray, mask: np.ndarray) -> pd.Series:
    """Integer ns where ``mask`` holds, null elsewhere (a failed request has no arrival time)."""
    return pd.Series(values, dtype="Int64").where(mask)


def _summary(result: dict[str, Any], frame: pd.DataFrame, source: str) -> tuple[dict[str, Any], list[str]]:
    """summary.json: the file's own values for every key it shares with ours (vLLM's names),
    the rest recomputed from the requests. Everything the file held stays in the manifest's
    ``source_summary``."""
    original = {k: v for k, v in result.items() if k not in PER_REQUEST_KEYS}
    duration = original.get("duration")
    dur = float(duration) if isinstance(duration, (int, float)) and duration > 0 else None
    recomputed = summarize(frame, duration=dur)
    for key in METRICS.get("client_lag").all_keys():
        recomputed.pop(key, None)  # no scheduled times: client lag is unknown, not zero
    known = set(recomputed) | set(RunSummary.model_fields)
    summary = {k: v for k, v in original.items() if k in known and _is_number(v)}
    for key, value in summary.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{source}: {key} = {value} is not a finite number")
    added = [k for k in recomputed if k not in summary]
    for key in added:
        summary[key] = recomputed[key]
    try:
        RunSummary.model_validate(summary)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise UserError(f"{source}: {where} = {err.get('input')!r}: {err['msg']}") from None
    return summary, added


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def parse_rate(value: Any, source: str) -> float | None:
    """A request rate as vLLM writes it (a number, or "inf"); None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("inf", "infinity"):
            return math.inf
        try:
            value = float(text)
        except ValueError:
            raise UserError(f"{source}: request_rate {value!r} is not a number or inf") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise UserError(f"{source}: request_rate {value!r} is not a positive number or inf")
    return float(value)


def load_point(result: dict[str, Any], source: str) -> tuple[float | None, int | None]:
    """(request rate, max concurrency) the file records; None for what it does not say."""
    rate = parse_rate(result.get("request_rate"), source)
    conc = result.get("max_concurrency")
    if conc is not None and (isinstance(conc, bool) or not isinstance(conc, int) or conc < 1):
        raise UserError(f"{source}: max_concurrency {conc!r} is not a positive whole number")
    return rate, conc


def file_rates(path: Path) -> list[float | None]:
    """The request rate each result of ``path`` records (None: the file does not say)."""
    results = read_results(path)
    return [load_point(r, _source(path, i, len(results)))[0] for i, r in enumerate(results)]


def _source(path: Path, index: int, count: int) -> str:
    return f"{path}" + (f" (result {index + 1})" if count > 1 else "")


def _workload(result: dict[str, Any], rate: float | None, concurrency: int | None) -> dict[str, Any]:
    keys = ("num_prompts", "burstiness", "max_concurrency", "best_of", "use_beam_search", "label")
    wl: dict[str, Any] = {"request_rate": rate, "source": "vllm-bench"}
    wl.update({k: result[k] for k in keys if k in result})
    if concurrency is not None:
        wl["concurrency"] = concurrency  # the key the tool's own runs use (compare pairs by it)
    return wl


def import_vllm_bench(
    path: Path, out: Path, label: str, model: str | None, *, rate: float | None = None
) -> list[Path]:
    """One run directory per result in ``path``. Its load point is the file's request_rate and
    max_concurrency; ``rate`` stands in where the file records no rate."""
    results = read_results(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    written = []
    for index, result in enumerate(results):
        source = _source(path, index, len(results))
        file_rate, concurrency = load_point(result, source)
        frame, missing, notes = to_frame(result, source)
        summary, added = _summary(result, frame, source)
        point_rate = file_rate if file_rate is not None else rate
        if file_rate is None and rate is not None:
            notes.append(f"request rate {rate:g} req/s from --rate: the file does not record it")
        manifest = {
            "label": label,
            "model": model or result.get("model_id"),
            "endpoint": None,
            "engine": {"name": "vllm", "backend": result.get("backend"), "model_id": result.get("model_id")},
            "tokenizer": result.get("tokenizer_id"),
            "workload": _workload(result, point_rate, concurrency),
            "request_rate": point_rate,
            "started": result.get("date"),
            "source": {
                "importer": NAME,
                "format": detect_format(result),
                "file": str(path.resolve()),
                "sha256": digest,
                "index": index,
            },
            "source_summary": {k: v for k, v in result.items() if k not in PER_REQUEST_KEYS},
            "summary_recomputed_keys": added,
            "missing": missing,
            "notes": notes,
        }
        written.append(write_run(out, manifest, requests=frame, summary=summary))
    return written


IMPORTERS.add(
    NAME,
    Importer(
        NAME,
        "vLLM benchmark_serving.py (v0.5.x) or `vllm bench serve --save-result --save-detailed` JSON",
        import_vllm_bench,
        file_rates,
    ),
)
