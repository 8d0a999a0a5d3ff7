"""`tee-llm-prof import vllm-bench FILE --label on|off --out DIR`: other tools' results → run dirs."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from profiler.importers import load_all
from profiler.store import read_run

DESCRIPTION = """\
Turn another benchmark's result file into a run directory that compare and report understand.
Everything the file holds is kept (per-request TTFT, ITLs, lengths, texts, errors; the original
summary in summary.json and in the manifest); what it lacks (send times, per-chunk stamps…) is
listed in the manifest under "missing" and left empty, never invented.

formats:
  vllm-bench   vLLM benchmark_serving.py --save-result (v0.5.x) or
               vllm bench serve --save-result --save-detailed; .json or .json.gz

examples:
  tee-llm-prof import vllm-bench tee_serving_qps_1.json.gz --label on --model llama-3.1-70b --out runs/
  tee-llm-prof import vllm-bench base_serving_qps_1.json.gz --label off --model llama-3.1-70b --out runs/
  tee-llm-prof compare runs/<on run> runs/<off run> --out cmp/ --paper-compat
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("format", choices=load_all().names(), help="the result file's format")
    p.add_argument("file", type=Path, help="the result file (.json or .json.gz)")
    p.add_argument("--label", required=True, help="which leg this is: on (TEE) or off (or any label)")
    p.add_argument("--model", default=None, help="model key (default: the model id in the file)")
    p.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder the run directory is created in"
    )


def run(args: argparse.Namespace) -> int:
    importer = load_all().get(args.format)
    console = Console()
    for path in importer.run(args.file, args.out, args.label, args.model):
        r = read_run(path)
        frame = r.requests
        console.print(
            f"{path}  ({len(frame)} requests, {int(frame['ok'].sum())} ok; "
            f"missing: {', '.join(m.split(':')[0] for m in r.manifest.missing)})"
        )
    return 0
