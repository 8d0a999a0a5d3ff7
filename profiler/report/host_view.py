"""Views of the host and the configuration: the environment fingerprint, the CC-mode
validation and the models of models.yaml, as report blocks every format can draw."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from profiler.report.model import Paragraph, Table

STATUS = {"pass": "pass", "fail": "FAIL", "unknown": "unknown"}


def environment_rows(fp: Mapping[str, Any]) -> list[list[str]]:
    h, pk, tee = fp["host"], fp["packages"], fp["tee"]
    rows = [
        ["host", f"{h['hostname']}: {h['cpu_model']} ({h['cpu_cores']} cores"
                 f"{', VM' if h['hypervisor'] else ''}), {h['memory_gib']} GiB"],
        ["kernel / python", f"{h['kernel']} / {h['python']}"],
        ["packages", ", ".join(f"{k} {v}" for k, v in pk.items() if v)],
        ["TEE guest", f"{tee['kind']} ({', '.join(tee['cpu_flags'] + tee['devices'])})"
         if tee["kind"] else "none found"],
        ["configfs-tsm", "present" if tee["configfs_tsm"] else "absent"],
    ]  # fmt: skip
    if not fp["gpus"]:
        rows.append(["GPUs", f"none: {fp.get('gpus_reason')}"])
    else:
        rows.append(["driver / CUDA", f"{fp.get('driver_version')} / {fp.get('cuda_driver_version')}"])
        for g in fp["gpus"]:
            rows.append([f"GPU {g['index']}", f"{g.get('name')}, {g.get('memory_total_mib')} MiB, "
                         f"VBIOS {g.get('vbios')}, {g.get('pci_bus_id')}"])
        cc = fp.get("cc") or {}
        rows.append(["GPU CC", f"{cc.get('cc_feature')} (environment {cc.get('environment')}, "
                     f"devtools {cc.get('devtools_mode')}, CPU {cc.get('cpu_caps')}, "
                     f"ready {cc.get('gpus_ready')})"])
    if fp.get("nvml_source", "nvml") != "nvml":
        rows.append(["NVML source", f"{fp['nvml_source']} (recorded answers, not this host)"])
    if "endpoint" in fp:
        e = fp["endpoint"]
        rows.append(["endpoint", f"{e['url']}: vLLM {e['server_version'] or e.get('reason')}"])
    return rows


def environment_table(fp: Mapping[str, Any]) -> Table:
    return Table("tee-llm-prof environment", ["item", "value"], environment_rows(fp), align=["l", "l"])


def validation_blocks(result: Mapping[str, Any]) -> list[Table | Paragraph]:
    rows = [
        [
            c["name"] + (" *" if c["required"] else ""),
            STATUS[c["status"]],
            str(c["observed"] or "-"),
            c["reason"],
        ]
        for c in result["checks"]
    ]
    blocks: list[Table | Paragraph] = [
        Table(
            f"CC-mode validation (expect {result['expect']})",
            ["check", "status", "observed", "reason"],
            rows,
            align=["l", "l", "l", "l"],
            note="* required",
        )
    ]
    if result["nvml_source"] != "nvml":
        blocks.append(Paragraph(f"NVML answers replayed from {result['nvml_source']}, not this host"))
    blocks.append(
        Paragraph(f"{result['verdict']}: {result['summary']}  (exit {result['exit_code']})", emphasis=True)
    )
    return blocks


#: The checks a fleet table shows a column for (the rest are in each node's --json).
FLEET_CHECKS = ("nvml_cc_state", "gpus_ready", "guest_markers", "attestation_report")


def _check_cell(c: Mapping[str, Any] | None) -> str:
    if c is None:
        return "—"
    return f"{STATUS[c['status']]} ({c['observed']})" if c.get("observed") else STATUS[c["status"]]


def fleet_validation_blocks(fleet: Mapping[str, Any]) -> list[Table | Paragraph]:
    """``validate --cluster``: one row per node, the key checks, the node's verdict."""
    rows = []
    for n in fleet["nodes"]:
        node = n["node"]
        checks = {c["name"]: c for c in (n.get("result") or {}).get("checks", [])}
        cells = [_check_cell(checks.get(name)) for name in FLEET_CHECKS]
        verdict = n.get("verdict") or f"no answer: {n.get('error')}"
        rows.append([node["ip"], node.get("hostname") or "—", f"{node.get('gpus', 0):g}", *cells,
                     f"{verdict} (exit {n['exit_code']})"])  # fmt: skip
    only = ", GPU nodes only" if fleet.get("gpu_nodes_only") else ""
    table = Table(
        f"CC-mode validation on {len(rows)} nodes of {fleet['cluster']} (expect {fleet['expect']}{only})",
        ["node", "host", "GPUs (Ray)", *FLEET_CHECKS, "verdict"],
        rows,
        align=["l"] * (4 + len(FLEET_CHECKS)),
        note="each node ran `tee-llm-prof validate --json` itself; --json prints every check of every node",
    )
    holds = sum(1 for n in fleet["nodes"] if n["exit_code"] == 0)
    words = {0: "the expectation holds on every node with a GPU", 1: "it does not hold on every node",
             3: "no node has an NVIDIA GPU: GPU CC mode cannot be validated"}  # fmt: skip
    return [table, Paragraph(f"{words[fleet['exit_code']]} ({holds} of {len(rows)} hold; exit "
                             f"{fleet['exit_code']})", emphasis=True)]  # fmt: skip


def models_table(title: str, rows: Sequence[Mapping[str, Any]]) -> Table:
    body = []
    for r in rows:
        arch = f"{r['layers']}L × {r['hidden_size']}, vocab {r['vocab_size']}" if r["layers"] else "—"
        eps = f"{r['tee_on'] or '—'} / {r['tee_off'] or '—'}"
        served = "endpoints" if r["tee_on"] or r["tee_off"] else r["engine"]
        body.append([r["key"], arch, _params_text(r["params"]), served, eps, r["request_rates"]])
    return Table(
        title,
        ["key", "architecture", "params", "served by", "endpoints (on / off)", "rates"],
        body,
        align=["l"] * 6,
        optional=["endpoints (on / off)", "architecture"],
    )


def _params_text(n: float | None) -> str:
    if n is None:
        return "—"
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(int(n))
