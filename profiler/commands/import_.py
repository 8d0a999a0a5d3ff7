"""`tee-llm-prof import vllm-bench FILE… --label on|off --out DIR`: other tools' results → run dirs."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from profiler.errors import UserError

DESCRIPTION = """\
Turn other benchmarks' result files into run directories that compare and report understand:
one run per file (and one per result of an --append-result file). Everything a file holds is
kept (per-request TTFT, ITLs, lengths, texts, errors; the original summary in summary.json and
in the manifest); what it lacks (send times, per-chunk stamps…) is listed in the manifest under
"missing" and left empty, never invented.

Each run records its load point: the request rate and max concurrency the file states, else
--rate. `compare` pairs the runs of two legs by it, so files at several rates are imported and
compared in one step each. Several files need a rate each: from the file, or from --rate.

formats:
  vllm-bench   vLLM benchmark_serving.py --save-result (v0.5.x) or
               vllm bench serve --save-result --save-detailed; .json or .json.gz

examples:
  tee-llm-prof import vllm-bench tee_qps_1.json.gz tee_qps_inf.json.gz --label on --out runs/on
  tee-llm-prof import vllm-bench base_qps_1.json.gz base_qps_inf.json.gz --label off --out runs/off
  tee-llm-prof compare runs/on runs/off --out cmp/          # one comparison per rate + load_curve.json
  tee-llm-prof import vllm-bench result.json --rate 4 --label on --model llama-3.1-70b --out runs/on
"""


def parse_rate(text: str | None) -> float | None:
    """``--rate``: a positive number of requests per second, or ``inf``."""
    if text is None:
        return None
    if text.strip().lower() in ("inf", "infinity"):
        return math.inf
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"--rate {text!r}: give requests per second (a positive number) or inf") from None
    if not value > 0 or math.isnan(value):
        raise UserError(f"--rate {text!r}: give requests per second (a positive number) or inf")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    from profiler.importers import load_all

    p.add_argument("format", choices=load_all().names(), help="the result files' format")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE", help="result files (.json or .json.gz)")
    p.add_argument("--label", required=True, help="which leg these are: on (TEE) or off (or any label)")
    p.add_argument("--model", default=None, help="model key (default: the model id in the file)")
    p.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder the run directories are created in"
    )
    p.add_argument(
        "--rate", default=None, metavar="R",
        help="request rate (req/s, or inf) of files that do not record one",
    )


def _point(rate: float | None, concurrency: object) -> str:
    if rate is None:
        return "—"
    name = "rate=inf" if math.isinf(rate) else f"rate={rate:g}"
    return name + (f", concurrency={concurrency}" if concurrency is not None else "")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from profiler.importers import load_all
    from profiler.report import show
    from profiler.report.model import Table
    from profiler.store import read_run

    importer = load_all().get(args.format)
    rate = parse_rate(args.rate)
    files: list[Path] = list(args.files)
    if len(files) > 1 and importer.rates is not None:
        # read every file before writing any run: a bad or rate-less file fails the whole set
        for path in files:
            if rate is None and None in importer.rates(path):
                raise UserError(
                    f"{path}: records no request_rate; with several files give --rate R "
                    "(req/s or inf), or import this file on its own"
                )
    rows = []
    for path in files:
        for run_dir in importer.run(path, args.out, args.label, args.model, rate=rate):
            r = read_run(run_dir)
            frame = r.requests
            workload = r.manifest.workload or {}
            rows.append([
                str(run_dir), _point(r.manifest.request_rate, workload.get("concurrency")),
                str(len(frame)), str(int(frame["ok"].sum())),
                ", ".join(m.split(":")[0] for m in r.manifest.missing),
            ])
    show(Console(), Table(
        f"Imported {len(rows)} run(s) as leg {args.label}",
        ["run directory", "load point", "requests", "ok", "missing"], rows,
        align=["l", "l", "r", "r", "l"], optional=["missing"],
    ))
    return 0
