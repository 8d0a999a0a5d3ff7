"""Run directories of a simulated M/M/1 server: TTFT follows a known queueing law.

One FIFO server per leg with exponential service times of mean 1/μ and Poisson arrivals at
rate λ (λ = inf: every request sent at once). Waits come from Lindley's recursion
W(i+1) = max(0, W(i) + S(i) − A(i+1)). Legs share random numbers (the same arrival gaps and the
same unit service draws, scaled by 1/μ), as the tool's legs share prompts and arrival times.
T0 is a fixed delay outside the server (transport, tokenising): the first token arrives T0
after service starts, the last T0 after it ends. The mean TTFT below capacity is then
T0 + ρ/(μ − λ) (M/M/1), and the rate=inf run's throughput is μ. Every timestamp is an integer
ns and goes through the real metric functions and store.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loadgen.metrics import NS_PER_S, request_metrics, summarize
from profiler.store import write_run

TOKENS = 4


def mm1_frame(
    rate: float, mu: float, n: int, t0_s: float, seed: int, *, exact: bool = False, start_ns: int = 10**12
) -> pd.DataFrame:
    """``exact``: the sample is pinned to the law (service draws scaled to mean exactly 1/μ, waits
    below capacity scaled to mean exactly ρ/(μ − λ)), which leaves only the fit to test."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0, n) / rate if math.isfinite(rate) else np.zeros(n)
    unit = rng.exponential(1.0, n)
    if exact:
        unit /= unit.mean()
    service = unit / mu
    arrival = np.cumsum(gaps) - gaps[0]
    start = np.empty(n)
    free = 0.0
    for i in range(n):  # Lindley, as start times: a request starts when it arrives and the server is free
        start[i] = max(arrival[i], free)
        free = start[i] + service[i]
    if exact and math.isfinite(rate):
        wait = start - arrival
        start = arrival + wait * (rate / (mu * (mu - rate))) / wait.mean()
    rows = []
    for i in range(n):
        sent = start_ns + round(arrival[i] * NS_PER_S)
        first = start_ns + round((start[i] + t0_s) * NS_PER_S)
        last = start_ns + round((start[i] + service[i] + t0_s) * NS_PER_S)
        events = [int(x) for x in np.linspace(first, last, TOKENS).round()]
        m = request_metrics(sent, events, TOKENS)
        rows.append(
            {
                "request_id": i,
                "scheduled_ns": sent,
                "sent_ns": sent,
                "first_ns": events[0],
                "last_ns": events[-1],
                "end_ns": events[-1],
                "connect_ms": 0.0,
                "ttft_ms": m.ttft_ms,
                "tpot_ms": m.tpot_ms,
                "e2el_ms": m.e2el_ms,
                "itl_ms": m.itl_ms,
                "input_tokens": 16 + i % 7,
                "output_tokens": TOKENS,
                "ok": True,
                "error": None,
                "prompt_hash": f"p{seed}-{i}",
                "max_tokens": TOKENS,
            }
        )
    return pd.DataFrame(rows)


def mm1_run(
    out: Path,
    label: str,
    rate: float,
    mu: float,
    n: int,
    t0_s: float,
    seed: int,
    *,
    exact: bool = False,
    **manifest: Any,
) -> Path:
    """One run directory whose manifest records its load point like the tool's own runs."""
    frame = mm1_frame(rate, mu, n, t0_s, seed, exact=exact)
    return write_run(
        out,
        {
            "label": label,
            "model": "mm1",
            "request_rate": rate,
            "workload": {"request_rate": rate, "concurrency": None, "source": "mm1 simulation"},
            **manifest,
        },
        requests=frame,
        summary=summarize(frame),
    )


def mm1_legs(
    root: Path,
    rates: list[float],
    mu: dict[str, float],
    n: int,
    t0_s: dict[str, float],
    *,
    exact: bool = False,
    seed: int = 100,
) -> dict[str, list[Path]]:
    """Both legs at every rate (and rate=inf), with common random numbers per rate."""
    out: dict[str, list[Path]] = {"on": [], "off": []}
    for k, rate in enumerate([*rates, math.inf]):
        for leg in ("on", "off"):
            out[leg].append(mm1_run(root / leg, leg, rate, mu[leg], n, t0_s[leg], seed + k, exact=exact))
    return out


def true_ttft_s(rate: float, mu: float, t0_s: float) -> float:
    """The M/M/1 mean TTFT: T0 + ρ/(μ − λ)."""
    return t0_s + rate / (mu * (mu - rate))
