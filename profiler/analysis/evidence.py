"""What a leg's name claims about its TEE, and where the leg's evidence contradicts it.

A leg's *name* claims a setup: ``tdx``/``snp``/``sev``/``tee``/``cvm`` claim a CPU TEE, ``cc``
claims GPU CC mode, ``on`` (the two-leg shorthand) claims both, and ``off``/``base``/
``baseline``/``bare`` claim neither (words split at ``-`` and ``_``: ``tdx-cc`` claims both).
:func:`contradictions` says where the evidence disagrees: a leg called ``cc`` whose GPU reports
CC off, or a baseline that is a TDX guest. Evidence that cannot tell (no GPU here) contradicts
nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from profiler.results.evidence import LegEvidence

CPU_WORDS = frozenset({"tdx", "snp", "sev", "sevsnp", "tee", "cvm"})
GPU_WORDS = frozenset({"cc", "gpucc", "ppcie"})
BOTH_WORDS = frozenset({"on"})
NONE_WORDS = frozenset({"off", "base", "baseline", "bare", "plain", "native"})


@dataclass(frozen=True)
class Claim:
    """What a leg's name says it is: True claims the layer on, False off, None says nothing."""

    cpu_tee: bool | None = None
    gpu_cc: bool | None = None


def claim_of(name: str) -> Claim:
    words = set(re.split(r"[-_]+", name.lower()))
    if words & NONE_WORDS and not words & (CPU_WORDS | GPU_WORDS | BOTH_WORDS):
        return Claim(False, False)
    both = bool(words & BOTH_WORDS)
    cpu = True if both or words & CPU_WORDS else None
    gpu = True if both or words & GPU_WORDS else None
    return Claim(cpu, gpu)


def conflicts(name: str, evidence: LegEvidence | None) -> list[str]:
    """Where the leg's evidence contradicts its name, as short clauses (none when either is silent)."""
    if evidence is None:
        return []
    claim, out = claim_of(name), []
    has_cpu = None if evidence.cpu_tee is None else evidence.cpu_tee != "none"
    has_gpu = None if evidence.gpu_cc is None else evidence.gpu_cc == "on"
    if claim.cpu_tee is True and has_cpu is False:
        out.append("shows no CPU TEE guest, but the name claims one")
    if claim.gpu_cc is True and has_gpu is False:
        out.append("shows the GPU with CC off, but the name claims CC mode")
    if claim.cpu_tee is False and has_cpu:
        out.append(f"shows a {evidence.cpu_tee} guest, but the name says it is a baseline")
    if claim.gpu_cc is False and has_gpu:
        out.append("shows the GPU in CC mode, but the name says it is a baseline without it")
    words = set(re.split(r"[-_]+", name.lower()))
    kind = evidence.cpu_tee or ""
    if ({"tdx"} & words and kind.startswith("sev")) or (words & {"snp", "sev", "sevsnp"} and kind == "tdx"):
        out.append(f"shows a {kind} guest, not the TEE the name says")
    return out


def contradictions(name: str, evidence: LegEvidence | None) -> list[str]:
    """Whole sentences for warnings: which leg, what its evidence says, and the conflict."""
    if evidence is None:
        return []
    said = f"leg {name!r}: its evidence ({evidence.describe()})"
    return [f"{said} {what}" for what in conflicts(name, evidence)]
