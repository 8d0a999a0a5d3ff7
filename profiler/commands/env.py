"""``tee-llm-prof env``: print the environment fingerprint every run manifest embeds."""

from __future__ import annotations

import argparse
import json
from typing import Any

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


def _rows(fp: dict[str, Any]) -> list[tuple[str, str]]:
    h, pk, tee = fp["host"], fp["packages"], fp["tee"]
    rows = [
        ("host", f"{h['hostname']}: {h['cpu_model']} ({h['cpu_cores']} cores"
                 f"{', VM' if h['hypervisor'] else ''}), {h['memory_gib']} GiB"),
        ("kernel / python", f"{h['kernel']} / {h['python']}"),
        ("packages", ", ".join(f"{k} {v}" for k, v in pk.items() if v)),
        ("TEE guest", f"{tee['kind']} ({', '.join(tee['cpu_flags'] + tee['devices'])})"
         if tee["kind"] else "none found"),
        ("configfs-tsm", "present" if tee["configfs_tsm"] else "absent"),
    ]
    if not fp["gpus"]:
        rows.append(("GPUs", f"none: {fp.get('gpus_reason')}"))
    else:
        rows.append(("driver / CUDA", f"{fp.get('driver_version')} / {fp.get('cuda_driver_version')}"))
        for g in fp["gpus"]:
            rows.append((f"GPU {g['index']}", f"{g.get('name')}, {g.get('memory_total_mib')} MiB, "
                         f"VBIOS {g.get('vbios')}, {g.get('pci_bus_id')}"))
        cc = fp.get("cc") or {}
        rows.append(("GPU CC", f"{cc.get('cc_feature')} (environment {cc.get('environment')}, "
                     f"devtools {cc.get('devtools_mode')}, CPU {cc.get('cpu_caps')}, "
                     f"ready {cc.get('gpus_ready')})"))
    if fp.get("nvml_source", "nvml") != "nvml":
        rows.append(("NVML source", f"{fp['nvml_source']} (recorded answers, not this host)"))
    if "endpoint" in fp:
        e = fp["endpoint"]
        rows.append(("endpoint", f"{e['url']}: vLLM {e['server_version'] or e.get('reason')}"))
    return rows


def run(args: argparse.Namespace) -> int:
    from profiler.env import fingerprint

    fp = fingerprint(args.endpoint)
    if args.json:
        print(json.dumps(fp, indent=2, default=str))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tee-llm-prof environment", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in _rows(fp):
        table.add_row(key, value)
    Console().print(table)
    return 0
