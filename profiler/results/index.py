"""The index file of an experiment: profile.json, sweep.json or suite.json (DESIGN §5).

One shape for every experiment the engine (:mod:`profiler.experiment`) runs: the legs, the
design that ordered the runs, and per load point the run directories of every leg (relative
to the index's directory) and, once compared, its comparison directory. It is rewritten after
every run, so an interrupted experiment still says what it measured. A sweep adds its
capacity results (:class:`SweepSection`), a suite set its suite (:class:`SuiteSection`).

    <dir>/profile.json | sweep.json | suite.json
    <dir>/runs/<run_id>/...            one per leg × load point × block
    <dir>/compare/<load point>/...     comparison.json (+ report files)
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from profiler.results.evidence import LegEvidence
from profiler.results.files import Rate, ResultFile, Strict
from profiler.results.run import STATUS_RUNNING, Status

Kind = Literal["profile", "sweep", "suite"]
INDEX_FILES: dict[str, str] = {"profile": "profile.json", "sweep": "sweep.json", "suite": "suite.json"}


class LegEntry(Strict):
    base_url: str | None = None
    served_model: str | None = None
    engine: dict[str, Any] = Field(default_factory=dict)
    evidence: LegEvidence | None = None  # the leg's TEE evidence, as its runs' manifests carry it


class DesignEntry(Strict):
    name: str  # the ordering strategy's registered name (abba, …)
    description: str  # in words: "on, off, off, on, … per load point"


class PrecisionEntry(Strict):
    """A target-precision point: the rule, and how far it got (``profile --target-ci``)."""

    target_pct: float  # the CI half-width asked for, in points
    metrics: list[str]  # the headline metrics it applies to
    pilot_blocks: int  # blocks that set the spread (the comparison's two-stage interval uses them)
    budget_s: float | None = None
    blocks_needed: int | None = None  # from the pilot
    blocks_run: int = 0
    stopped_by: str | None = None  # target | budget | max-blocks
    reached: bool = False  # every headline half-width ≤ the target
    half_widths: dict[str, float | None] = Field(default_factory=dict)


class PointEntry(Strict):
    name: str  # rate=4, concurrency=16
    request_rate: Rate | None = None
    concurrency: int | None = None
    load: Rate | None = None  # a sweep's swept parameter
    runs: dict[str, list[str]] = Field(default_factory=dict)  # leg → run dirs, in run order
    comparison: str | None = None  # the (first) comparison directory, once compared
    comparisons: dict[str, str] = Field(default_factory=dict)  # "<leg>-vs-<reference>" → directory
    decomposition: str | None = None  # decomposition.json of a chain of legs
    precision: PrecisionEntry | None = None  # a target-precision point's rule and outcome

    def all_runs(self) -> list[str]:
        return [r for rs in self.runs.values() for r in rs]


class SaturationEntry(Strict):
    saturated: bool
    index: int | None = None
    reason: str | None = None


class CapacityEntry(Strict):
    qps: float | None
    load: float | None = None
    output_tps: float | None = None
    kind: str = "none"
    binding: str | None = None
    lo: int | None = None
    hi: int | None = None
    fraction: float | None = None
    extrapolated_qps: float | None = None
    note: str = ""
    tokens_per_request: float | None = None


class SweepPointRecord(Strict):
    """A readable copy of one point's key numbers; the run directories stay the source."""

    model_config = ConfigDict(extra="allow")  # + the SLO statistics the sweep shows

    load: Rate
    concurrency: int | None
    request_rate: Rate | None
    run: str | None
    runs: list[str]
    status: str
    qps: float | None
    output_tps: float | None
    error_rate: float | None
    p99_client_lag_ms: float | None = None
    saturation: str | None = None


class SweepLeg(Strict):
    points: list[SweepPointRecord] = Field(default_factory=list)
    saturation: SaturationEntry = Field(default_factory=lambda: SaturationEntry(saturated=False))
    stopped: str | None = None  # why no further point was run
    capacity: CapacityEntry | None = None


class SweepSection(Strict):
    mode: Literal["concurrency", "rate"]
    loads: list[Rate]
    max_concurrency: int | None = None
    tensor_parallel_size: int = 1
    repeats: int = 1
    slos: dict[str, float] = Field(default_factory=dict)
    max_error_rate: float = 0.01
    saturation_policy: dict[str, float] = Field(default_factory=dict)
    stop_on_saturation: bool = True
    legs: dict[str, SweepLeg] = Field(default_factory=dict)
    plots: list[str] = Field(default_factory=list)


class SuiteSection(Strict):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class ExperimentIndex(ResultFile):
    kind: Kind
    id: str
    tool_version: str
    model: str | None = None
    aa: bool = False
    note: str | None = None
    status: Status = STATUS_RUNNING
    reason: str | None = None
    started: str | None = None
    finished: str | None = None
    pid: int | None = None
    host: str | None = None
    legs: dict[str, LegEntry] = Field(default_factory=dict)
    baseline: str | None = None  # the reference leg overheads are taken against
    chain: list[str] | None = None  # legs whose successive increments are compared (a, b, c)
    design: DesignEntry
    workload: dict[str, Any] | None = None
    load_points: list[PointEntry] = Field(default_factory=list)
    sweep: SweepSection | None = None
    suite: SuiteSection | None = None

    @property
    def file_name(self) -> str:
        return INDEX_FILES[self.kind]

    def point(self, name: str) -> PointEntry:
        for p in self.load_points:
            if p.name == name:
                return p
        raise KeyError(name)


class ProfileIndex(ExperimentIndex):
    FILE: ClassVar[str] = INDEX_FILES["profile"]
    kind: Literal["profile"] = "profile"


class SweepIndex(ExperimentIndex):
    FILE: ClassVar[str] = INDEX_FILES["sweep"]
    kind: Literal["sweep"] = "sweep"


class SuiteIndex(ExperimentIndex):
    FILE: ClassVar[str] = INDEX_FILES["suite"]
    kind: Literal["suite"] = "suite"


INDEX_MODELS: dict[str, type[ExperimentIndex]] = {
    "profile": ProfileIndex,
    "sweep": SweepIndex,
    "suite": SuiteIndex,
}
