"""`tee-llm-prof run`: one workload against one endpoint → one run directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from profiler.cluster.options import add_cluster_arguments
from profiler.flags import add_workload_flags

DESCRIPTION = """\
Drive one OpenAI-compatible streaming endpoint (vLLM, or anything speaking /v1/completions)
with a seeded workload and write one run directory: manifest.json (environment, resolved
workload, tool version, status), requests.parquet (per-request CLOCK_MONOTONIC stamps, TTFT,
ITLs, TPOT, E2EL), summary.json (vLLM-compatible keys) and telemetry tables.

Warm-up requests (default: one per connection) open the connections first and are kept out
of the results. The run ends with a client-health verdict: if the load generator itself fell
behind (send lag, event-loop lag, CPU), it says so plainly — add --workers or lower the load.

examples:
  tee-llm-prof run --endpoint http://127.0.0.1:8000 --served-model tiny \\
      --input-len 128 --output-len 64 --concurrency 16 --num-requests 200 --out runs/
  tee-llm-prof run --endpoint http://10.0.0.5:8000 --served-model llama --label on \\
      --dataset sharegpt:ShareGPT_V3.json --request-rate 4 --num-requests 1000 --out runs/
  tee-llm-prof run --endpoint http://10.0.0.5:8000 --served-model llama --cluster 10.0.0.7:6379 \\
      --workers 8 --placement spread --concurrency 512 --num-requests 20000 --out runs/

With --cluster the workers are Ray actors on the cluster's nodes, each running this tool's own
load process; requests.parquet says which node and worker sent each request, and the manifest
records each worker's clock offset and its own client-health verdict (docs/cluster.md).
"""

#: `run` sends one workload once: no load-point list (one --request-rate) and no blocks.
RUN_FIELDS = (
    "dataset", "api", "input_len", "output_len", "range_ratio", "prefix_len", "num_requests", "duration_s",
    "concurrency", "request_rates", "schedule", "burstiness", "ramp_up_s", "warmup", "seed", "timeout_s",
    "slos",
)  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--served-model", required=True, help="the model name the server expects")
    p.add_argument("--out", type=Path, required=True, help="directory to create the run directory in")
    p.add_argument("--label", default="run", help="leg label: on, off, or anything (default run)")
    p.add_argument("--model-key", default=None, help="models.yaml key to record (default: served model)")
    p.add_argument(
        "--tokenizer",
        default=None,
        help="HF tokenizer dir for exact prompt lengths (default: the endpoint's "
        "/tokenize, else a word approximation; the run records which)",
    )
    add_workload_flags(p.add_argument_group("workload"), RUN_FIELDS, defaults="built in")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="client processes (each its own event loop and core) for very high load",
    )
    add_cluster_arguments(p, workers=False)
    p.add_argument(
        "--allow-model-mismatch",
        action="store_true",
        help="measure even when the endpoint's /v1/models does not list --served-model",
    )
    p.add_argument("--metrics-url", default=None, help="vLLM /metrics URL to scrape during the run")
    p.add_argument("--ca-cert", default=None, help="https endpoints: CA bundle to verify the server with")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="https endpoints: do not verify the certificate (recorded in the manifest)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from profiler.cluster.options import cluster_options
    from profiler.config import WorkloadSpec
    from profiler.errors import UserError
    from profiler.experiment.legs import Leg
    from profiler.experiment.preflight import check_legs, check_url, check_writable, tls_context
    from profiler.experiment.request import ClientOptions, RunRequest, execute
    from profiler.experiment.signals import sigterm_as_interrupt
    from profiler.flags import overrides, resolve_workload
    from profiler.report import show
    from profiler.report.run_view import run_summary_blocks
    from profiler.store import read_run

    if args.workers < 1:
        raise UserError("--workers must be >= 1")
    workload = resolve_workload(WorkloadSpec(), overrides(args, RUN_FIELDS))
    if len(workload.request_rates) != 1:
        raise UserError("run sends at one rate: give one --request-rate (profile takes a list)")
    check_url(args.endpoint)
    check_writable(args.out)
    leg = Leg(
        args.label, args.endpoint, args.served_model, metrics_url=args.metrics_url, tokenizer=args.tokenizer
    )
    tls = tls_context(args.ca_cert, not args.insecure) if args.endpoint.startswith("https") else None
    for line in check_legs([leg], allow_mismatch=args.allow_model_mismatch, tls=tls):
        print(f"warning: {line}", file=sys.stderr)
    client = ClientOptions(
        workers=args.workers, progress=not args.no_progress, tls_ca=args.ca_cert,
        tls_verify=not args.insecure, cluster=cluster_options(args),
    )
    with sigterm_as_interrupt():
        path = execute(
            RunRequest(
                out=args.out,
                leg=leg,
                workload=workload,
                request_rate=workload.request_rates[0],
                model_key=args.model_key,
                client=client,
            )
        )
    run_dir = read_run(path)
    show(Console(), *run_summary_blocks(run_dir))
    print(f"run directory: {path}")
    if not run_dir.complete:
        print(f"run {run_dir.manifest.status}: {run_dir.manifest.reason}", file=sys.stderr)
    return 0 if run_dir.complete else 1
