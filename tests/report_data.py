"""Test inputs for the report tests: small run directories from hand-made integer timestamps,
and run directories from the real Phala H200 data (vLLM bench JSON, read directly).

Hand-made rows go through the real metric functions (loadgen.metrics) and the real run store,
so a report test exercises exactly the files a real run writes.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loadgen.metrics import NS_PER_MS, NS_PER_S, request_metrics, summarize
from profiler.store import write_run

PHALA = Path(__file__).resolve().parents[2] / "shared" / "data" / "phala-h200"
if not PHALA.is_dir():  # the checkout may live elsewhere; the data sits beside it in /work/shared
    PHALA = Path("/work/shared/data/phala-h200")


def request_rows(
    n: int,
    *,
    ttft_ms: float,
    itl_ms: float,
    seed: int,
    start_ns: int = 10**12,
    rate: float = 20.0,
    fail_every: int = 0,
) -> pd.DataFrame:
    """``n`` requests with Poisson arrivals; every timestamp an integer ns, metrics computed."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1 / rate, n)
    scheduled = start_ns + (np.cumsum(gaps) * NS_PER_S).astype(np.int64)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        n_in = int(rng.integers(8, 600))
        n_out = int(rng.integers(2, 40))
        sched = int(scheduled[i])
        sent = sched + int(rng.integers(50_000, 400_000))  # 0.05–0.4 ms client lag
        ok = not (fail_every and i % fail_every == fail_every - 1)
        if not ok:
            rows.append(
                dict(
                    request_id=i,
                    scheduled_ns=sched,
                    sent_ns=sent,
                    first_ns=None,
                    last_ns=None,
                    connect_ms=0.2,
                    ttft_ms=np.nan,
                    tpot_ms=np.nan,
                    e2el_ms=np.nan,
                    itl_ms=[],
                    input_tokens=n_in,
                    output_tokens=0,
                    ok=False,
                    error="HTTP 500",
                    end_ns=sent + 2 * NS_PER_MS,
                )
            )
            continue
        first = sent + int((ttft_ms + n_in * 0.02 + rng.normal(0, 1)) * NS_PER_MS)
        events = [first]
        for _ in range(n_out - 1):
            events.append(events[-1] + int((itl_ms + rng.normal(0, 0.3)) * NS_PER_MS))
        m = request_metrics(sent, events, n_out)
        rows.append(
            dict(
                request_id=i,
                scheduled_ns=sched,
                sent_ns=sent,
                first_ns=events[0],
                last_ns=events[-1],
                connect_ms=0.2,
                ttft_ms=m.ttft_ms,
                tpot_ms=m.tpot_ms,
                e2el_ms=m.e2el_ms,
                itl_ms=m.itl_ms,
                input_tokens=n_in,
                output_tokens=n_out,
                ok=True,
                error=None,
                end_ns=events[-1] + 100_000,
            )
        )
    return pd.DataFrame(rows)


def telemetry_rows(start_ns: int, seconds: float, util: float, seed: int) -> pd.DataFrame:
    """Hand-made samples in the sampler's own columns, at 10 Hz (test input, not a measurement)."""
    from profiler.telemetry.sampler import TELEMETRY_COLUMNS

    rng = np.random.default_rng(seed)
    t = start_ns + (np.arange(0, seconds + 0.2, 0.1) * NS_PER_S).astype(np.int64)
    power = rng.normal(350, 20, t.size)
    frame = pd.DataFrame({c: np.full(t.size, np.nan) for c in TELEMETRY_COLUMNS})
    frame["t_ns"] = t
    frame["gpu"] = 0
    frame["gpu_util_pct"] = np.clip(rng.normal(util, 5, t.size), 0, 100)
    frame["power_w"] = power
    frame["energy_mj"] = np.cumsum(power * 0.1 * 1000)  # the driver's cumulative counter
    frame["mem_used_mib"] = 70_000.0
    frame["sm_clock_mhz"] = 1980.0
    frame["clock_event_reasons"] = 0
    return frame


def make_run(
    out: Path,
    label: str,
    *,
    n: int = 60,
    ttft_ms: float = 40,
    itl_ms: float = 8,
    seed: int = 0,
    model: str = "tiny-llama",
    telemetry: bool = False,
    fail_every: int = 0,
    environment: dict[str, Any] | None = None,
    status: str = "complete",
    experiment: Any = None,
) -> Path:
    frame = request_rows(n, ttft_ms=ttft_ms, itl_ms=itl_ms, seed=seed, fail_every=fail_every)
    tables = {}
    if telemetry:
        span = (frame["end_ns"].max() - frame["sent_ns"].min()) / NS_PER_S
        tables["telemetry"] = telemetry_rows(
            int(frame["sent_ns"].min()), float(span), 70 if label == "on" else 75, seed
        )
    env = environment or {
        "gpu": {"name": "NVIDIA H200", "driver": "550.90.07", "cc_mode": "on" if label == "on" else "off"},
        "tee": {"type": "tdx" if label == "on" else "none"},
        "vllm": {"version": "0.32.0"},
        "engine": {"command": "python -m vllm.entrypoints.openai.api_server --model x"},
    }
    manifest = {
        "label": label,
        "model": model,
        "endpoint": "http://127.0.0.1:8000",
        "workload": {"dataset": "random", "num_requests": n, "request_rate": 20.0, "seed": seed},
        "environment": env,
        "experiment": experiment,
    }
    return write_run(
        out,
        manifest,
        requests=frame,
        summary=summarize(frame),
        tables=tables,
        status=status,
        reason=None if status == "complete" else "interrupted by Ctrl-C",
    )


def phala_frame(name: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-request rows of one vLLM bench JSON of the Phala data (no send timestamps exist there)."""
    with gzip.open(PHALA / name, "rt") as fh:
        data = json.load(fh)
    rows = []
    for i, (ttft, itls, n_in, n_out, err) in enumerate(
        zip(data["ttfts"], data["itls"], data["input_lens"], data["output_lens"], data["errors"], strict=True)
    ):
        itl_ms = [float(x) * 1000 for x in itls]
        ok = not err and ttft is not None
        ttft_ms = float(ttft) * 1000 if ttft is not None else np.nan
        decode = sum(itl_ms)
        rows.append(
            dict(
                request_id=i,
                scheduled_ns=None,
                sent_ns=None,
                first_ns=None,
                last_ns=None,
                connect_ms=None,
                ttft_ms=ttft_ms,
                tpot_ms=decode / (n_out - 1) if ok and n_out > 1 else np.nan,
                e2el_ms=ttft_ms + decode if ok else np.nan,
                itl_ms=itl_ms,
                input_tokens=n_in,
                output_tokens=n_out,
                ok=ok,
                error=err or None,
            )
        )
    summary = {k: v for k, v in data.items() if not isinstance(v, list)}
    return pd.DataFrame(rows), summary
