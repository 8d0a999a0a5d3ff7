"""``tee-llm-prof env``: print the environment fingerprint every run manifest embeds."""

from __future__ import annotations

import argparse
import json

DESCRIPTION = """\
Print what this host is: CPU model and cores, memory, kernel, Python, the versions of vLLM,
torch and friends, the GPUs NVML sees (name, driver, CUDA, VBIOS, memory), the GPU
Confidential Computing state, and the guest's TEE markers (TDX / SEV-SNP). The same record
is stored in every run's manifest.json under "environment".

Without an NVIDIA driver the GPU list is empty and gpus_reason says why.

examples:
  tee-llm-prof env
  tee-llm-prof env --json > env.json
  tee-llm-prof env --endpoint http://127.0.0.1:8000      also ask the server for its vLLM version
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--endpoint", default=None, metavar="URL",
                   help="also record this server's /version (vLLM)")


def run(args: argparse.Namespace) -> int:
    from profiler.env import fingerprint

    fp = fingerprint(args.endpoint)
    if args.json:
        print(json.dumps(fp, indent=2, default=str))
        return 0
    from rich.console import Console

    from profiler.report import show
    from profiler.report.host_view import environment_table

    show(Console(), environment_table(fp))
    return 0
