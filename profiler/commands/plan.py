"""``tee-llm-prof plan``: GPUs and cost per leg for a target load, from a stored sweep."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rich.console import Console

from profiler.capacity.plan import plan_sweep
from profiler.capacity.plots import pareto_plot
from profiler.capacity.slo import parse_slos
from profiler.errors import UserError
from profiler.report import show
from profiler.report.sweep_view import plan_table
from profiler.store import write_json

DESCRIPTION = """\
Turn a sweep into a deployment plan. Per leg: the SLO-bound maximum throughput of one replica
(interpolated between the sweep's load points; the output says when it is a lower bound or
extrapolated), replicas = ceil(target / that), GPUs = replicas × --gpus-per-replica, cost per
hour and per million output tokens (at the target traffic), and across legs the TEE's capacity
overhead (off − on) / off and the cost-performance ratio (TPS/cost)_on / (TPS/cost)_off, both
with 95% bootstrap CIs carried from the sweep's requests. It also states the mean TTFT overhead
expected at the load each replica then gets, from an M/G/1 queueing model of the sweep's legs
(docs/load_curve.md), or says why the sweep cannot support that model. Writes plan.json and
plan.png (the Pareto view with the SLO lines and operating points) into the sweep directory
(or --out).

examples:
  tee-llm-prof plan --sweep sweeps/<sweep_id> --target-qps 20
  tee-llm-prof plan --sweep sweeps/<sweep_id> --target-qps 20 --gpu-hour-cost on=4.20,off=3.50 \\
      --gpus-per-replica 2 --slo ttft_p99_ms=1000,tpot_p99_ms=60
"""


def parse_costs(text: str | None) -> dict[str, float] | None:
    """``on=4.2,off=3.5`` (or one number for both legs) → {"on": 4.2, "off": 3.5}."""
    if not text:
        return None
    out: dict[str, float] = {}
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        if len(parts) == 1 and "=" not in parts[0]:
            out = {"on": float(parts[0]), "off": float(parts[0])}
        else:
            for part in parts:
                leg, sep, value = part.partition("=")
                if not sep or leg.strip() not in ("on", "off"):
                    raise UserError(f"--gpu-hour-cost: {part!r}; write on=PRICE,off=PRICE (per GPU-hour)")
                out[leg.strip()] = float(value)
    except ValueError:
        raise UserError(f"--gpu-hour-cost: {text!r} has a value that is not a number") from None
    if set(out) != {"on", "off"}:
        raise UserError("--gpu-hour-cost: give a price for both legs (on=…,off=…) or one for both")
    if any(not v > 0 or math.isinf(v) for v in out.values()):
        raise UserError("--gpu-hour-cost: prices must be positive")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sweep", required=True, help="sweep directory (holds sweep.json)")
    p.add_argument("--target-qps", type=float, required=True, help="requests per second to serve")
    p.add_argument("--gpu-hour-cost", help="price of one GPU-hour per leg: on=4.2,off=3.5 (or one number)")
    p.add_argument("--gpus-per-replica", type=int,
                   help="GPUs one replica uses (default: the model's tensor_parallel_size in models.yaml)")
    p.add_argument("--slo", help="SLOs in ms (default: the sweep's), e.g. ttft_p99_ms=500,tpot_p99_ms=50")
    p.add_argument("--max-error-rate", type=float, default=None,
                   help="failed fraction a point may have and meet the SLOs (default: the sweep's)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap replicates for the CIs (0: none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--out", help="directory for plan.json and plan.png (default: the sweep directory)")


def run(args: argparse.Namespace) -> int:
    if not args.target_qps > 0 or math.isinf(args.target_qps):
        raise UserError("--target-qps must be a positive number of requests per second")
    if args.gpus_per_replica is not None and args.gpus_per_replica < 1:
        raise UserError("--gpus-per-replica must be ≥ 1")
    if args.n_boot < 0:
        raise UserError("--n-boot must be ≥ 0")
    rate = args.max_error_rate
    if rate is not None and not 0 <= rate < 1:
        raise UserError("--max-error-rate must be in [0, 1)")
    slos = parse_slos(args.slo, 0.01 if rate is None else rate) if args.slo else None
    plan, data, caps = plan_sweep(
        Path(args.sweep), target_qps=args.target_qps, slos=slos, max_error_rate=rate,
        gpu_hour_cost=parse_costs(args.gpu_hour_cost), gpus_per_replica=args.gpus_per_replica,
        n_boot=args.n_boot, seed=args.seed,
    )
    out = Path(args.out) if args.out else data.path
    out.mkdir(parents=True, exist_ok=True)
    used = slos if slos is not None else data.slos(rate)
    title = f"{data.model or 'sweep'}: operating points for {args.target_qps:g} req/s"
    plot = pareto_plot({k: v.points for k, v in data.legs.items() if v.points}, out / "plan.png",
                       slos=used or None, capacities=caps, mode=data.mode, title=title)
    plan["plots"] = [str(plot)]
    write_json(out / "plan.json", plan)
    console = Console()
    show(console, plan_table(plan))
    for w in plan["warnings"]:
        console.print(f"[yellow]note:[/yellow] {w}", highlight=False)
    console.print(plan["sentence"], highlight=False)
    console.print(f"plan: {out / 'plan.json'}  (plot: {plot})")
    missing = [k for k, leg in plan["legs"].items() if leg["replicas"] is None]
    return 1 if missing else 0
