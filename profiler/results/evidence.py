"""A leg's TEE evidence, as each of its run manifests carries it (``manifest.evidence``).

It is what ``tee-llm-prof validate`` found on the leg's host, reduced to the two facts a
comparison's reader needs: is the CPU a TEE guest (TDX / SEV-SNP), and is the GPU in CC mode.
``None`` means the evidence could not tell (no GPU, no NVML, a check that could not run).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from profiler.results.files import Strict

OnOff = Literal["on", "off"]


class EvidenceCheck(Strict):
    name: str
    status: str  # pass | fail | unknown (against the expectation validate ran with)
    observed: OnOff | None = None
    reason: str = ""


class LegEvidence(Strict):
    source: str  # "validate on this host" or "file: PATH" (validate --json run on the leg's host)
    expect: OnOff | None = None  # the expectation validate ran with
    verdict: str | None = None  # holds | does not hold | no GPU
    summary: str = ""
    cpu_tee: str | None = None  # "tdx" | "sev-snp" | "none" (no guest markers); None: unknown
    gpu_cc: OnOff | None = None  # NVML's CC state; None: unknown (no GPU or no NVML)
    checks: list[EvidenceCheck] = Field(default_factory=list)

    def describe(self) -> str:
        cpu = {"none": "no CPU TEE", None: "CPU TEE unknown"}.get(self.cpu_tee, f"CPU TEE {self.cpu_tee}")
        gpu = {"on": "GPU CC on", "off": "GPU CC off", None: "GPU CC unknown"}[self.gpu_cc]
        return f"{cpu}, {gpu} ({self.source})"


def from_validate(result: Any, source: str) -> LegEvidence:
    """The evidence in one ``validate --json`` result; ValueError when it is not one."""
    if not isinstance(result, dict) or not isinstance(result.get("checks"), list):
        raise ValueError("not the output of `tee-llm-prof validate --json` (no 'checks' list)")
    checks = []
    by_name: dict[str, dict[str, Any]] = {}
    for item in result["checks"]:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError("a check without a name: not the output of `tee-llm-prof validate --json`")
        by_name[item["name"]] = item
        observed = item.get("observed")
        checks.append(
            EvidenceCheck(
                name=item["name"],
                status=str(item.get("status", "unknown")),
                observed=observed if observed in ("on", "off") else None,
                reason=str(item.get("reason") or ""),
            )
        )
    gpu = by_name.get("nvml_cc_state", {}).get("observed")
    markers = by_name.get("guest_markers", {})
    kind = (markers.get("details") or {}).get("kind") if isinstance(markers.get("details"), dict) else None
    cpu = {"on": str(kind or "tee"), "off": "none"}.get(str(markers.get("observed")))
    expect = result.get("expect")
    return LegEvidence(
        source=source,
        expect=expect if expect in ("on", "off") else None,
        verdict=result.get("verdict") if isinstance(result.get("verdict"), str) else None,
        summary=str(result.get("summary") or ""),
        cpu_tee=cpu,
        gpu_cc=gpu if gpu in ("on", "off") else None,
        checks=checks,
    )
