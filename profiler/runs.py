"""``execute_run``: one workload against one endpoint → one run directory (DESIGN §5).

Builds the prompts (counting tokens with a tokenizer, the endpoint's /tokenize, or words —
recorded as ``tokenizer_mode``), fingerprints the environment, drives the load inside a
TelemetrySession, and writes manifest.json, requests.parquet (measured requests only),
warmup.parquet (the warm-up requests, kept for their connection timings), summary.json and the
telemetry tables. Whatever stops the run early, what was measured is written with
``status: incomplete`` and the reason; Ctrl-C is re-raised after saving.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from loadgen.health import summary_keys
from loadgen.metrics import measured, summarize
from loadgen.runner import RunResult, RunSpec, StopFlag, run
from loadgen.schedule import schedule_name
from loadgen.tokenizer import TokenCounter, resolve_counter
from loadgen.workload import DatasetArgs, Prompt, build_prompts
from profiler.config import WorkloadSpec
from profiler.env import fingerprint
from profiler.errors import UserError
from profiler.store import STATUS_COMPLETE, STATUS_INCOMPLETE, RunWriter
from profiler.telemetry import TelemetrySession

#: Warm-up prompts come from another seed, so the server cannot prefix-cache measured prompts.
WARMUP_SEED_OFFSET = 1_000_003

CLIENT = "tee-llm-prof loadgen: raw HTTP/1.1 keep-alive on uvloop, stamps in data_received"


def make_prompts(
    workload: WorkloadSpec, counter: TokenCounter
) -> tuple[list[Prompt], list[Prompt]]:
    """(measured prompts, warm-up prompts) for a workload; the same seed gives the same lists."""
    args = DatasetArgs(
        num=workload.num_requests, input_len=workload.input_len, output_len=workload.output_len,
        range_ratio=workload.range_ratio, prefix_len=workload.prefix_len, seed=workload.seed,
    )
    try:
        prompts = build_prompts(workload.dataset, args, counter)
        n_warm = workload.effective_warmup
        warm = (
            build_prompts(
                workload.dataset,
                replace(args, num=n_warm, seed=workload.seed + WARMUP_SEED_OFFSET),
                counter,
            )
            if n_warm
            else []
        )
    except (ValueError, KeyError) as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot count tokens via {counter.source}: {exc}") from None
    return prompts, warm


@contextmanager
def _progress_bar(enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _lengths(prompts: list[Prompt]) -> dict[str, Any]:
    ins = np.array([p.input_tokens for p in prompts])
    outs = np.array([p.output_tokens for p in prompts])
    return {
        "input_tokens_mean": float(ins.mean()), "input_tokens_min": int(ins.min()),
        "input_tokens_max": int(ins.max()), "output_tokens_mean": float(outs.mean()),
    }


def execute_run(
    out: Path,
    *,
    endpoint: str,
    served_model: str,
    workload: WorkloadSpec,
    request_rate: float = math.inf,
    label: str = "run",
    model_key: str | None = None,
    engine: dict[str, Any] | None = None,
    tokenizer: str | None = None,
    extra_manifest: dict[str, Any] | None = None,
    metrics_url: str | None = None,
    workers: int = 1,
    progress: bool = True,
    stop: StopFlag | None = None,
    run_id: str | None = None,
    tls_ca: str | None = None,
    tls_verify: bool = True,
) -> Path:
    """Run ``workload`` at ``request_rate`` against ``endpoint``; return the run directory.

    The directory is complete, or ``status: incomplete`` with a reason when the run stopped
    early (server unreachable mid-run, stop flag); on Ctrl-C it is saved, then
    KeyboardInterrupt is re-raised. An endpoint that cannot be reached at all raises UserError
    (after writing the incomplete directory).
    """
    try:
        counter = resolve_counter(tokenizer, endpoint, served_model)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    prompts, warm = make_prompts(workload, counter)
    spec = RunSpec(
        base_url=endpoint, model=served_model, prompts=prompts, api=workload.api,
        concurrency=workload.concurrency, request_rate=request_rate, burstiness=workload.burstiness,
        ramp_up_s=workload.ramp_up_s, seed=workload.seed, warmup_prompts=warm,
        duration_s=workload.duration_s, timeout_s=workload.timeout_s, workers=workers,
        tls_ca=tls_ca, tls_verify=tls_verify,
    )
    manifest: dict[str, Any] = {
        "label": label,
        "model": model_key or served_model,
        "served_model": served_model,
        "endpoint": endpoint,
        "metrics_url": metrics_url,
        "engine": engine or {},
        "workload": {**workload.model_dump(mode="json"), "request_rates": None},
        "request_rate": request_rate,
        "tokenizer_mode": counter.mode,
        "tokenizer": counter.source,
        "prompt_lengths": _lengths(prompts),
        "loadgen": {
            "client": CLIENT,
            "workers": workers,
            "schedule": schedule_name(request_rate, workload.burstiness),
            "warmup_requests": len(warm),
            "tls": {"ca": tls_ca, "verify": tls_verify} if endpoint.startswith("https") else None,
        },
        "environment": fingerprint(endpoint),
        **(extra_manifest or {}),
    }
    writer = RunWriter(Path(out), manifest, run_id=run_id)
    writer.start()
    tele = TelemetrySession(metrics_url=metrics_url)
    result: RunResult | None = None
    try:
        with tele, _progress_bar(progress, f"{label} rate={request_rate:g}") as bar:
            result = run(spec, progress=bar, stop=stop)
    except ConnectionError as exc:
        writer.finish(status=STATUS_INCOMPLETE, reason=f"cannot reach endpoint: {exc}",
                      tables=tele.tables(), telemetry=tele.summary())
        raise UserError(f"cannot reach {endpoint}: {exc}; is the server up?") from None
    except KeyboardInterrupt:
        writer.finish(status=STATUS_INCOMPLETE, reason="interrupted before any request was sent",
                      tables=tele.tables(), telemetry=tele.summary())
        raise
    return _save(writer, result, workload, tele, counter)


def _save(
    writer: RunWriter, result: RunResult, workload: WorkloadSpec, tele: TelemetrySession,
    counter: TokenCounter,
) -> Path:
    frame = result.frame
    requests = measured(frame).reset_index(drop=True)
    warm = frame[frame["warmup"]].reset_index(drop=True)
    slos = {str(k): v for k, v in workload.slos.items()} or None
    summary: dict[str, Any] = dict(summarize(requests, slos=slos))
    summary.update(summary_keys(result.health))
    summary["tokenizer_mode"] = counter.mode
    status = STATUS_INCOMPLETE if result.interrupted else STATUS_COMPLETE
    connect = np.asarray(result.connect_ms, dtype=float)
    path = writer.finish(
        requests=requests,
        summary=summary,
        tables={"warmup": warm, **tele.tables()},
        status=status,
        reason=result.reason,
        client_health=result.health,
        wall_anchor=result.wall_anchor,
        telemetry=tele.summary(),
        t0_ns=result.t0_ns,
        connections={
            "opened": int(connect.size),
            "mean_connect_ms": float(connect.mean()) if connect.size else None,
            "max_connect_ms": float(connect.max()) if connect.size else None,
        },
    )
    if result.sigint:
        print(f"interrupted: saved {len(requests)} requests to {path} (status incomplete)", file=sys.stderr)
        raise KeyboardInterrupt
    return path
