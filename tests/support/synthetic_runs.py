"""Run directories with hand-made, known timings (for the analysis tests; no server involved).

Each request: TTFT = ``fixed_ms + per_in_ms·input + noise`` then ``output − 1`` gaps of
``per_out_ms`` each, so E2EL = fixed + per_in·input + per_out·(output − 1) + noise exactly.
Timestamps are integer perf_counter-style ns, requests sent every ``gap_ms``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loadgen.metrics import NS_PER_MS, REQUEST_COLUMNS, request_metrics, summarize
from profiler.store import write_run


def frame(
    inputs: np.ndarray,
    outputs: np.ndarray,
    *,
    fixed_ms: float,
    per_in_ms: float,
    per_out_ms: float,
    noise_ms: np.ndarray | None = None,
    gap_ms: float = 50.0,
    t0_ns: int = 10**12,
    fail: np.ndarray | None = None,
    prompts: list[str] | None = None,
    max_tokens: np.ndarray | None = None,
) -> pd.DataFrame:
    n = len(inputs)
    noise = np.zeros(n) if noise_ms is None else noise_ms
    rows: list[dict[str, Any]] = []
    for i in range(n):
        sent = t0_ns + int(i * gap_ms * NS_PER_MS)
        ok = not (fail is not None and fail[i])
        ttft_ns = round((fixed_ms + per_in_ms * inputs[i] + noise[i]) * NS_PER_MS)
        events = [sent + ttft_ns + round(k * per_out_ms * NS_PER_MS) for k in range(int(outputs[i]))]
        m = request_metrics(sent, events if ok else [], int(outputs[i]))
        rows.append(
            {
                "request_id": i,
                "scheduled_ns": sent,
                "sent_ns": sent,
                "first_ns": events[0] if ok and events else None,
                "last_ns": events[-1] if ok and events else None,
                "end_ns": events[-1] + NS_PER_MS if ok and events else sent + NS_PER_MS,
                "connect_ms": 0.1,
                "ttft_ms": m.ttft_ms,
                "tpot_ms": m.tpot_ms,
                "e2el_ms": m.e2el_ms,
                "itl_ms": m.itl_ms,
                "input_tokens": int(inputs[i]),
                "output_tokens": int(outputs[i]) if ok else 0,
                "ok": ok,
                "error": None if ok else "HTTP 500",
                "prompt_hash": prompts[i] if prompts else f"p{i}",
                "max_tokens": int(max_tokens[i]) if max_tokens is not None else int(outputs[i]),
            }
        )
    out = pd.DataFrame(rows)
    assert all(c in out.columns for c in REQUEST_COLUMNS)
    return out


def write(out: Path, label: str, requests: pd.DataFrame, **manifest: Any) -> Path:
    summary = summarize(requests)
    return write_run(
        out, {"label": label, "model": "synthetic", **manifest}, requests=requests, summary=summary
    )
