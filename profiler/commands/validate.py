"""``tee-llm-prof validate``: prove (or disprove) that GPU confidential computing is on."""

from __future__ import annotations

import argparse
import json
from typing import Any

DESCRIPTION = """\
Check that this host really runs confidential: GPU CC mode (NVML ccFeature, PROD environment,
DevTools off, multi-GPU mode), the CPU TEE the driver sees (TDX / SEV-SNP), the GPUs' ready
state, a fresh attestation report whose 32-byte nonce is echoed (configfs-tsm), the guest's
TEE markers (cpuinfo flags, /dev/tdx_guest, /dev/sev-guest, dmesg) and, with --probe, the
pinned H2D/D2H bandwidth (CC mode's bounce buffers: typically 4–10 GB/s against tens of GB/s).

Each check says pass, fail or unknown, with the reason. The expectation holds when no check
fails and the required ones (GPU CC state, ready state, for --expect on) pass.

exit codes:
  0  the expectation holds
  1  it does not (a check failed, or a required check could not confirm it)
  2  bad arguments
  3  no NVIDIA GPU on this host: GPU CC mode cannot be validated (the CPU checks still run)

examples:
  tee-llm-prof validate                          expect CC on (the default)
  tee-llm-prof validate --expect off --json      the baseline host really is not confidential
  tee-llm-prof validate --probe                  add the bounce-buffer bandwidth probe (torch)
  tee-llm-prof validate --cluster 10.0.0.7:6379 --gpu-nodes-only
                                                 every GPU node of a Ray cluster, one row each

With --cluster, each node of the Ray cluster runs this same validate itself (a Ray task starts
`tee-llm-prof validate --json` there; the ray extra and the same version on every node) and the
answers are gathered into one table. Exit 0 when every node with a GPU holds, 1 when one does not
or gives no answer, 3 when no node has a GPU (docs/cluster.md).
"""

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--expect", choices=("on", "off"), default="on",
                   help="the CC state this host should be in (default: on)")
    p.add_argument("--json", action="store_true", help="print JSON (checks, verdict, exit_code)")
    p.add_argument("--probe", action="store_true",
                   help="also measure pinned H2D/D2H bandwidth with torch (a few seconds)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="validate every node of the Ray cluster at ADDRESS (host:port of its head)")
    p.add_argument("--gpu-nodes-only", action="store_true",
                   help="with --cluster: only the nodes whose Ray resources include a GPU")


def _print(result: dict[str, Any]) -> None:
    from rich.console import Console

    from profiler.report import show
    from profiler.report.host_view import validation_blocks

    show(Console(), *validation_blocks(result))


def _fleet(args: argparse.Namespace) -> int:
    from rich.console import Console

    from profiler.cluster.fleet_commands import validate_fleet
    from profiler.report import show
    from profiler.report.host_view import fleet_validation_blocks

    fleet = validate_fleet(args.cluster, args.expect, probe=args.probe, gpu_only=args.gpu_nodes_only)
    if args.json:
        print(fleet.model_dump_json(indent=2))
    else:
        show(Console(), *fleet_validation_blocks(fleet.model_dump()))
    return fleet.exit_code


def run(args: argparse.Namespace) -> int:
    from profiler.errors import UserError
    from profiler.validate import validate

    if args.cluster:
        return _fleet(args)
    if args.gpu_nodes_only:
        raise UserError("--gpu-nodes-only only applies with --cluster ADDRESS")
    result = validate(args.expect, probe=args.probe)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        _print(result)
    return int(result["exit_code"])
