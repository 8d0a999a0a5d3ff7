"""decomposition.json: a chain of legs (bare → CPU TEE → CPU TEE + GPU CC) split into its steps.

Per headline metric: the total overhead of the last leg against the first, and each step's
increment (b against a, c against b), all from the same blocks on the log scale, so the steps'
log ratios add up to the total's.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from profiler.results.files import ResultFile, Strict


class Step(Strict):
    leg: str
    reference: str
    overhead_pct: float | None  # DESIGN §4 sign: positive = this step costs
    ci_low: float | None
    ci_high: float | None
    significant: bool | None
    share_pct: float | None = None  # this step's part of the total, on the log scale


class DecompositionRow(Strict):
    metric: str
    direction: Literal["latency", "throughput"]
    total: Step
    steps: list[Step]


class Decomposition(ResultFile):
    FILE: ClassVar[str] = "decomposition.json"

    kind: Literal["decomposition"] = "decomposition"
    chain: list[str]
    blocks: int
    interval: str
    metrics: list[DecompositionRow] = Field(default_factory=list)
    reason: str | None = None  # why there is nothing to decompose
