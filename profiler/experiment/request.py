"""One LLM run: a :class:`RunRequest` value in, one run directory out (DESIGN §5).

:func:`execute` builds the prompts (counting tokens with a tokenizer, the endpoint's /tokenize,
or words — recorded as ``tokenizer_mode``), fingerprints the environment, drives the load
inside a TelemetrySession, and writes manifest.json, requests.parquet (measured requests only),
warmup.parquet (the warm-up requests, kept for their connection timings), summary.json and the
telemetry tables. Whatever stops the run early, what was measured is written with
``status: incomplete`` and the reason; Ctrl-C and SIGTERM are re-raised after saving.
"""

from __future__ import annotations

import math
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loadgen.health import summary_keys
from loadgen.metrics import measured, summarize
from loadgen.runner import RunResult, RunSpec, StopFlag, run
from loadgen.schedule import schedule_name
from loadgen.tokenizer import TokenCounter, resolve_counter
from loadgen.workload import DatasetArgs, Prompt, build_prompts
from profiler.cluster.options import ClusterOptions
from profiler.config import WorkloadSpec
from profiler.env import fingerprint
from profiler.errors import UserError
from profiler.experiment.legs import Leg
from profiler.experiment.signals import interrupt_of, interruption_reason, shielded
from profiler.results.run import ExperimentRef
from profiler.store import STATUS_COMPLETE, STATUS_FAILED, STATUS_INCOMPLETE, RunWriter
from profiler.telemetry import TelemetrySession

#: Warm-up prompts come from another seed, so the server cannot prefix-cache measured prompts.
WARMUP_SEED_OFFSET = 1_000_003

CLIENT = "tee-llm-prof loadgen: raw HTTP/1.1 keep-alive on uvloop, stamps in data_received"


@dataclass(frozen=True)
class ClientOptions:
    """How the load generator runs (not what it sends)."""

    workers: int = 1
    progress: bool = True
    tls_ca: str | None = None
    tls_verify: bool = True
    cluster: ClusterOptions | None = None  # the workers run on this Ray cluster (profiler.cluster)


def _runner(client: ClientOptions) -> Callable[..., RunResult]:
    """The local runner, or the Ray one when the client has a cluster (imported only then)."""
    if client.cluster is None:
        return run
    from profiler.cluster.runner import run_on_cluster

    options = client.cluster
    return lambda spec, **kw: run_on_cluster(spec, options, **kw)


@dataclass(frozen=True)
class RunRequest:
    """Everything one run needs: where to write, which leg, what to send at which rate."""

    out: Path  # the directory the run directory is created in
    leg: Leg
    workload: WorkloadSpec  # resolved for this run (its seed is the block's seed)
    request_rate: float = math.inf
    model_key: str | None = None
    experiment: ExperimentRef | None = None
    client: ClientOptions = ClientOptions()
    run_id: str | None = None
    stop: StopFlag | None = None
    #: called with the run directory as soon as it exists (the experiment lists it at once)
    on_start: Callable[[Path], None] | None = None


def make_prompts(workload: WorkloadSpec, counter: TokenCounter) -> tuple[list[Prompt], list[Prompt]]:
    """(measured prompts, warm-up prompts) for a workload; the same seed gives the same lists."""
    args = DatasetArgs(
        num=workload.num_requests,
        input_len=workload.input_len,
        output_len=workload.output_len,
        range_ratio=workload.range_ratio,
        prefix_len=workload.prefix_len,
        seed=workload.seed,
    )
    try:
        prompts = build_prompts(workload.dataset, args, counter)
        n_warm = workload.effective_warmup
        warm = (
            build_prompts(
                workload.dataset, replace(args, num=n_warm, seed=workload.seed + WARMUP_SEED_OFFSET), counter
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
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _lengths(prompts: list[Prompt]) -> dict[str, Any]:
    ins = np.array([p.input_tokens for p in prompts])
    outs = np.array([p.output_tokens for p in prompts])
    return {
        "input_tokens_mean": float(ins.mean()),
        "input_tokens_min": int(ins.min()),
        "input_tokens_max": int(ins.max()),
        "output_tokens_mean": float(outs.mean()),
    }


def execute(req: RunRequest) -> Path:
    """Run ``req`` and return its run directory.

    The directory is complete, or ``status: incomplete`` with a reason when the run stopped
    early (server unreachable mid-run, stop flag); on Ctrl-C it is saved, then
    KeyboardInterrupt is re-raised. An endpoint that cannot be reached at all raises UserError
    (after writing the incomplete directory).
    """
    leg, workload = req.leg, req.workload
    try:
        counter = resolve_counter(leg.tokenizer, leg.base_url, leg.served_model)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    prompts, warm = make_prompts(workload, counter)
    client = req.client
    spec = RunSpec(
        base_url=leg.base_url,
        model=leg.served_model,
        prompts=prompts,
        api=workload.api,
        concurrency=workload.concurrency,
        request_rate=req.request_rate,
        schedule=workload.schedule,
        burstiness=workload.burstiness,
        ramp_up_s=workload.ramp_up_s,
        seed=workload.seed,
        warmup_prompts=warm,
        duration_s=workload.duration_s,
        timeout_s=workload.timeout_s,
        workers=client.workers,
        tls_ca=client.tls_ca,
        tls_verify=client.tls_verify,
    )
    manifest: dict[str, Any] = {
        "label": leg.name,
        "model": req.model_key or leg.served_model,
        "served_model": leg.served_model,
        "endpoint": leg.base_url,
        "metrics_url": leg.metrics_url,
        "engine": dict(leg.engine),
        "workload": {**workload.model_dump(mode="json"), "request_rates": None},
        "request_rate": req.request_rate,
        "tokenizer_mode": counter.mode,
        "tokenizer": counter.source,
        "prompt_lengths": _lengths(prompts),
        "loadgen": {
            "client": CLIENT,
            "workers": client.workers,
            "cluster": client.cluster.address if client.cluster else None,
            "schedule": workload.schedule or schedule_name(req.request_rate, workload.burstiness),
            "warmup_requests": len(warm),
            "tls": {"ca": client.tls_ca, "verify": client.tls_verify}
            if leg.base_url.startswith("https")
            else None,
        },
        "environment": fingerprint(leg.base_url),
        "evidence": leg.evidence,
        "experiment": req.experiment,
    }
    writer = RunWriter(Path(req.out), manifest, run_id=req.run_id)
    writer.start()
    if req.on_start is not None:
        req.on_start(writer.path)
    tele = TelemetrySession(metrics_url=leg.metrics_url)
    result: RunResult | None = None
    try:
        with tele, _progress_bar(client.progress, f"{leg.name} rate={req.request_rate:g}") as bar:
            result = _runner(client)(spec, progress=bar, stop=req.stop)
    except UserError as exc:  # e.g. the cluster cannot place the workers: nothing was sent
        _stopped_early(writer, tele, str(exc))
        raise
    except ConnectionError as exc:
        _stopped_early(writer, tele, f"cannot reach endpoint: {exc}")
        raise UserError(f"cannot reach {leg.base_url}: {exc}; is the server up?") from None
    except KeyboardInterrupt as exc:
        _stopped_early(writer, tele, f"{interruption_reason(exc).split(';')[0]} before any request was sent")
        raise
    with shielded():  # a second Ctrl-C must not break the save of what the first one stopped
        path = _save(writer, result, workload, tele, counter)
    if result.sigint:
        n = int((~result.frame["warmup"]).sum()) if "warmup" in result.frame else len(result.frame)
        print(f"interrupted: saved {n} requests to {path} (status incomplete)", file=sys.stderr)
        raise interrupt_of(result.signal)
    return path


def _stopped_early(writer: RunWriter, tele: TelemetrySession, reason: str) -> None:
    with shielded():
        writer.finish(status=STATUS_INCOMPLETE, reason=reason, tables=tele.tables(), telemetry=tele.summary())


def _save(
    writer: RunWriter,
    result: RunResult,
    workload: WorkloadSpec,
    tele: TelemetrySession,
    counter: TokenCounter,
) -> Path:
    frame = result.frame
    requests = measured(frame).reset_index(drop=True)
    warm = frame[frame["warmup"]].reset_index(drop=True)
    slos = {str(k): v for k, v in workload.slos.items()} or None
    summary: dict[str, Any] = dict(summarize(requests, slos=slos))
    summary.update(summary_keys(result.health))
    summary["tokenizer_mode"] = counter.mode
    status, reason = _status(result, requests)
    connect = np.asarray(result.connect_ms, dtype=float)
    path = writer.finish(
        requests=requests,
        summary=summary,
        tables={"warmup": warm, **tele.tables()},
        status=status,
        reason=reason,
        client_health=result.health,
        wall_anchor=result.wall_anchor,
        telemetry=tele.summary(),
        t0_ns=result.t0_ns,
        cluster=getattr(result, "cluster", None),
        connections={
            "opened": int(connect.size),
            "mean_connect_ms": float(connect.mean()) if connect.size else None,
            "max_connect_ms": float(connect.max()) if connect.size else None,
        },
    )
    return path


def _status(result: RunResult, requests: pd.DataFrame) -> tuple[str, str | None]:
    """complete; incomplete + reason (stopped early); failed + reason (not one request worked)."""
    ok = requests["ok"].astype(bool)
    if not ok.any() and not result.sigint:
        errors = requests.loc[~ok, "error"].fillna("no error recorded")
        if errors.empty:
            why = "nothing could be sent"
        else:
            top = errors.value_counts()
            why = f"every request failed ({len(requests)} of {len(requests)}; most often: {top.index[0]})"
        return STATUS_FAILED, "; ".join(x for x in (why, result.reason) if x)
    if result.interrupted:
        reason = result.reason
        if result.signal is not None and reason:  # which signal: Ctrl-C or SIGTERM
            label = "SIGTERM" if result.signal == signal.SIGTERM else "Ctrl-C"
            reason = reason.replace("interrupted", f"interrupted ({label})", 1)
        return STATUS_INCOMPLETE, reason
    return STATUS_COMPLETE, None
