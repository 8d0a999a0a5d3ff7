"""`tee-llm-prof run`: one workload against one endpoint → one run directory."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from profiler.commands import COMMANDS, Command
from profiler.errors import UserError

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
"""


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a rate: {text!r} (a number, or inf)") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("the rate must be > 0 (inf = no limit)")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--served-model", required=True, help="the model name the server expects")
    p.add_argument("--out", type=Path, required=True, help="directory to create the run directory in")
    p.add_argument("--label", default="run", help="leg label: on, off, or anything (default run)")
    p.add_argument("--model-key", default=None, help="models.yaml key to record (default: served model)")
    p.add_argument("--tokenizer", default=None,
                   help="HF tokenizer dir for exact prompt lengths (default: the endpoint's "
                   "/tokenize, else a word approximation; the run records which)")
    p.add_argument("--dataset", default="random", help="random | sharegpt:PATH | prefix (default random)")
    p.add_argument("--api", choices=("completions", "chat"), default="completions")
    p.add_argument("--input-len", type=int, default=128, help="prompt tokens (default 128)")
    p.add_argument("--output-len", type=int, default=128,
                   help="max_tokens, sent with ignore_eos (default 128)")
    p.add_argument("--range-ratio", type=float, default=0.0, help="lengths uniform in ±ratio (default 0)")
    p.add_argument("--prefix-len", type=int, default=0, help="shared prefix tokens for --dataset prefix")
    p.add_argument("--num-requests", type=int, default=200, help="measured requests (default 200)")
    p.add_argument("--duration", type=float, default=None, help="stop sending after S seconds")
    p.add_argument("--concurrency", type=int, default=8, help="max requests in flight (default 8)")
    p.add_argument("--request-rate", type=_rate, default=math.inf, help="requests/s (default inf)")
    p.add_argument("--burstiness", type=float, default=1.0,
                   help="gamma shape: 1 = Poisson, <1 burstier, inf = constant (default 1)")
    p.add_argument("--ramp-up", type=float, default=0.0, help="seconds to ramp the rate up (default 0)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up requests (default = concurrency)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=600.0, help="per-request timeout in s (default 600)")
    p.add_argument("--workers", type=int, default=1,
                   help="client processes (each its own event loop and core) for very high load")
    p.add_argument("--metrics-url", default=None, help="vLLM /metrics URL to scrape during the run")
    p.add_argument("--slo", action="append", default=[], metavar="KEY=MS",
                   help="SLO for goodput, e.g. --slo ttft=200 --slo tpot=50 (keys: ttft, tpot, e2el)")
    p.add_argument("--ca-cert", default=None, help="https endpoints: CA bundle to verify the server with")
    p.add_argument("--insecure", action="store_true",
                   help="https endpoints: do not verify the certificate (recorded in the manifest)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _slos(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise UserError(f"--slo expects KEY=MS (e.g. ttft=200), got {item!r}") from None
        if not sep:
            raise UserError(f"--slo expects KEY=MS (e.g. ttft=200), got {item!r}")
    return out


def workload_from_args(args: argparse.Namespace) -> Any:
    from profiler.config import WorkloadSpec, parse_strict

    data = {
        "dataset": args.dataset, "api": args.api, "input_len": args.input_len,
        "output_len": args.output_len, "range_ratio": args.range_ratio, "prefix_len": args.prefix_len,
        "num_requests": args.num_requests, "duration_s": args.duration, "concurrency": args.concurrency,
        "request_rates": [args.request_rate], "burstiness": args.burstiness, "ramp_up_s": args.ramp_up,
        "warmup": args.warmup, "seed": args.seed, "timeout_s": args.timeout, "slos": _slos(args.slo),
    }
    return parse_strict(WorkloadSpec, data, "command line")


def print_summary(path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from profiler.store import read_run

    r = read_run(path)
    s = r.summary
    console = Console()
    table = Table(title=f"{r.label} · {r.manifest.get('model')} · {r.manifest.get('endpoint')}")
    table.add_column("metric")
    for col in ("mean", "median", "p99"):
        table.add_column(col, justify="right")
    for stem, name in (("ttft", "TTFT ms"), ("tpot", "TPOT ms"), ("itl", "ITL ms"), ("e2el", "E2EL ms")):
        table.add_row(name, *(_fmt(s.get(f"{k}_{stem}_ms")) for k in ("mean", "median", "p99")))
    console.print(table)
    console.print(
        f"completed {s.get('completed')}  failed {s.get('failed')}  duration {_fmt(s.get('duration'))} s  "
        f"req/s {_fmt(s.get('request_throughput'))}  out tok/s {_fmt(s.get('output_throughput'))}  "
        f"total tok/s {_fmt(s.get('total_token_throughput'))}"
    )
    if "request_goodput" in s:
        console.print(f"goodput {_fmt(s.get('request_goodput'))} req/s")
    mode = r.manifest.get("tokenizer_mode")
    if mode == "words":
        console.print("[yellow]prompt lengths are approximate: counted as words (no tokenizer, "
                      "no /tokenize on the endpoint)[/]")
    coalesced = s.get("coalesced_itl_fraction")
    if coalesced is not None and coalesced > 0.10:
        console.print(f"[yellow]{coalesced:.0%} of inter-token gaps are 0: those events arrived together "
                      "(the server flushed them at once, e.g. while rendering /metrics, or reads were "
                      "late), so ITL percentiles mix decode steps with flushes[/]")
    style = "bold red" if s.get("client_bound") else "green"
    console.print(f"[{style}]client health: {s.get('client_health')}[/]")
    if not r.complete:
        console.print(f"[bold yellow]run incomplete: {r.manifest.get('reason')}[/]")
    console.print(f"run directory: {path}")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def run(args: argparse.Namespace) -> int:
    from profiler.runs import execute_run

    if args.workers < 1:
        raise UserError("--workers must be >= 1")
    workload = workload_from_args(args)
    path = execute_run(
        args.out, endpoint=args.endpoint, served_model=args.served_model, workload=workload,
        request_rate=args.request_rate, label=args.label, model_key=args.model_key,
        tokenizer=args.tokenizer, metrics_url=args.metrics_url, workers=args.workers,
        progress=not args.no_progress, tls_ca=args.ca_cert, tls_verify=not args.insecure,
    )
    print_summary(path)
    from profiler.store import read_run

    return 0 if read_run(path).complete else 1


COMMANDS.add(
    "run",
    Command(
        name="run",
        help="run one workload against one endpoint and write a run directory",
        add_arguments=add_arguments,
        run=run,
        description=DESCRIPTION,
    )
)
