"""``tee-llm-prof sweep``: raise the load on both legs until each saturates; one run per point."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

from profiler.capacity.saturation import SaturationPolicy
from profiler.cluster.options import add_cluster_arguments, cluster_options
from profiler.errors import UserError
from profiler.flags import add_workload_flags

if TYPE_CHECKING:
    from profiler.capacity.sweep import SweepSpec
    from profiler.config import WorkloadSpec

#: The workload flags a sweep offers: what each point sends (load and repeats are the sweep's).
SWEEP_FIELDS = ("dataset", "api", "input_len", "output_len", "range_ratio", "num_requests", "seed", "warmup",
                "timeout_s")

DEFAULT_CONCURRENCY = "1,2,4,8,16,32,64"

DESCRIPTION = """\
Measure throughput against latency at increasing load on both legs (TEE on / TEE off). Every
load point is one run directory under <out>/<sweep_id>/runs/; sweep.json ties legs, points and
runs together. A leg stops by itself when it saturates (throughput stops growing, p99 latency
or client lag explodes, requests fail). With --slo, each leg's maximum throughput meeting the
SLOs is interpolated between points; then `tee-llm-prof plan` turns it into GPUs and cost.
Every load both legs measured is then compared (<out>/<sweep_id>/compare/<point>/), and the
load curve with its queueing model is written to compare/load_curve.json.
Points are interleaved across legs (on, off, then off, on) so host drift hits both alike.

examples:
  tee-llm-prof sweep --model tiny-llama --concurrency 1,2,4,8 --num-requests 50 \\
      --slo ttft_p99_ms=500,tpot_p99_ms=50 --out sweeps/
  tee-llm-prof sweep --model llama-3.1-70b --tee-on http://10.0.0.5:8000 --tee-off http://10.0.0.6:8000 \\
      --rates 1,2,4,8,16 --slo ttft_p99_ms=2000,tpot_p99_ms=100
  tee-llm-prof plan --sweep sweeps/<sweep_id> --target-qps 20 --gpu-hour-cost on=4.2,off=3.5
"""


def parse_list(text: str, what: str, *, integer: bool = False) -> tuple[float, ...]:
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise UserError(f"{what}: {part!r} is not a number") from None
        if not value > 0 or math.isinf(value):
            raise UserError(f"{what}: {part} must be a positive finite number")
        if integer and value != int(value):
            raise UserError(f"{what}: {part} must be a whole number")
        out.append(value)
    if not out:
        raise UserError(f"{what}: give at least one value, e.g. 1,2,4,8")
    if out != sorted(set(out)):
        raise UserError(f"{what}: values must increase without repeats (got {text})")
    return tuple(out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model key in models.yaml (e.g. tiny-llama)")
    p.add_argument("--models", help="models.yaml to use (default: ./models.yaml or $TEE_LLM_PROF_MODELS)")
    p.add_argument("--tee-on", help="base URL of the TEE-on endpoint (overrides models.yaml)")
    p.add_argument("--tee-off", help="base URL of the TEE-off endpoint (overrides models.yaml)")
    load = p.add_mutually_exclusive_group()
    load.add_argument("--concurrency", help=f"closed-loop concurrency levels (default {DEFAULT_CONCURRENCY})")
    load.add_argument("--rates", help="open-loop Poisson request rates in req/s, e.g. 1,2,4,8")
    p.add_argument("--max-concurrency", type=int, help="in-flight cap for --rates (default: none)")
    add_workload_flags(p.add_argument_group("workload of every point (defaults: the model's in models.yaml)"),
                       SWEEP_FIELDS)
    p.add_argument("--repeats", type=int, default=1,
                   help="runs per leg and load point (default 1); with ≥ 2 the CIs include run-to-run drift")
    p.add_argument("--slo", help="SLOs in ms, e.g. ttft_p99_ms=500,tpot_p99_ms=50,e2el_p99_ms=5000")
    p.add_argument("--max-error-rate", type=float, default=0.01,
                   help="failed fraction a point may have and still meet the SLOs (default 0.01)")
    sat = p.add_argument_group("saturation (when a leg stops)")
    sat.add_argument("--min-efficiency", type=float, default=SaturationPolicy.min_efficiency,
                     help="stop when (relative throughput gain) / (relative load gain) < this (default 0.1)")
    sat.add_argument("--patience", type=int, default=SaturationPolicy.patience,
                     help="consecutive flat points needed to call a plateau (default 2; noise makes one "
                     "flat point weak evidence)")
    sat.add_argument("--max-latency-ratio", type=float, default=SaturationPolicy.max_latency_ratio,
                     help="stop when p99 TTFT or E2EL exceeds this × the first point's (default 20)")
    sat.add_argument("--max-lag-ms", type=float, default=SaturationPolicy.max_lag_ms,
                     help="open loop: stop when p99 client lag exceeds this (default 500 ms)")
    sat.add_argument("--no-stop", action="store_true", help="run every load point even past saturation")
    add_cluster_arguments(p.add_argument_group("load workers (default: one process on this host)"))
    p.add_argument("--out", default="sweeps", help="parent directory of the sweep (default: sweeps/)")
    p.add_argument("--sweep-id", help="name of the sweep directory (default: timestamp-sweep-model-xxxx)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_spec(
    args: argparse.Namespace, base: WorkloadSpec, model_key: str | None, tensor_parallel_size: int = 1
) -> SweepSpec:
    from profiler.capacity.slo import parse_slos
    from profiler.capacity.sweep import SweepSpec
    from profiler.flags import overrides, resolve_workload

    if args.rates:
        mode, loads = "rate", parse_list(args.rates, "--rates")
    else:
        levels = args.concurrency or DEFAULT_CONCURRENCY
        mode, loads = "concurrency", parse_list(levels, "--concurrency", integer=True)
    if args.max_concurrency is not None and args.max_concurrency < 1:
        raise UserError("--max-concurrency must be ≥ 1")
    if args.repeats < 1:
        raise UserError("--repeats must be ≥ 1")
    if args.patience < 1:
        raise UserError("--patience must be ≥ 1")
    if not 0 <= args.max_error_rate < 1:
        raise UserError("--max-error-rate must be in [0, 1)")
    policy = SaturationPolicy(
        min_efficiency=args.min_efficiency, patience=args.patience, max_latency_ratio=args.max_latency_ratio,
        max_lag_ms=args.max_lag_ms, max_error_rate=max(0.05, args.max_error_rate),
    )
    return SweepSpec(
        mode=mode, loads=loads, workload=resolve_workload(base, overrides(args, SWEEP_FIELDS)),
        slos=parse_slos(args.slo, args.max_error_rate), policy=policy,
        max_concurrency=args.max_concurrency, stop_on_saturation=not args.no_stop,
        model_key=model_key, tensor_parallel_size=tensor_parallel_size, repeats=args.repeats,
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from profiler.capacity.sweep import create_sweep, new_sweep_id, run_sweep
    from profiler.capacity.sweepfile import read_sweep
    from profiler.config import get_model
    from profiler.experiment.legs import resolve_legs
    from profiler.experiment.profile import llm_executor
    from profiler.experiment.profile_job import single_component
    from profiler.experiment.request import ClientOptions
    from profiler.experiment.signals import sigterm_as_interrupt
    from profiler.report import show
    from profiler.report.sweep_view import sweep_tables

    entry = get_model(args.model, args.models)
    spec = build_spec(args, entry.workload, args.model, entry.engine.tensor_parallel_size)
    console, err = Console(), Console(stderr=True)
    sweep_id = single_component(args.sweep_id, "--sweep-id") if args.sweep_id else new_sweep_id(args.model)
    path = Path(args.out) / sweep_id
    if (path / "sweep.json").exists():
        raise UserError(f"{path} already holds a sweep; choose another --sweep-id or --out")
    if args.workers < 1:
        raise UserError("--workers must be >= 1")
    client = ClientOptions(progress=not args.no_progress, workers=args.workers, cluster=cluster_options(args))
    executor = llm_executor(args.model, client)
    with sigterm_as_interrupt():
        try:
            with resolve_legs(entry, args.tee_on, args.tee_off, key=args.model, log_dir=path / "engine",
                              console=err) as legs:
                writer = create_sweep(Path(args.out), spec, legs, sweep_id)
                run_sweep(writer, spec, legs, executor, console=err, progress=not args.no_progress)
        except KeyboardInterrupt:
            if (path / "sweep.json").exists():
                err.print(f"interrupted: the points measured so far are kept in {path} (incomplete)")
            raise
    # the engine is stopped: tables and plots never compete with a server for the CPU
    data = read_sweep(path)
    show(console, *sweep_tables(data, spec.slos))
    from profiler.capacity.load_curve import sweep_load_curve
    from profiler.report.load_curve_view import load_curve_sections

    curve = sweep_load_curve(path)  # every load both legs measured: the overhead across them
    if curve is not None:
        show(console, *(b for sec in load_curve_sections(curve) if sec.console for b in sec.blocks))
        console.print(f"load curve: {path / 'compare' / 'load_curve.json'} (tee-llm-prof report {path})")
    if data.aa:
        console.print("Both legs are the same endpoint: an A/A calibration, differences are noise.")
    console.print(f"sweep: {path}  (plot: {path / 'pareto.png'})")
    console.print(f"next: tee-llm-prof plan --sweep {path} --target-qps N [--gpu-hour-cost on=…,off=…]")
    return 0
