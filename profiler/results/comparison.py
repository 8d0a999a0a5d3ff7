"""comparison.json (DESIGN §5): overheads with CIs, the paper view, the token-volume law.

One model for LLM and suite comparisons; what only an LLM comparison has (the paper view, the
token-volume law) is absent (null) for a suite instead of padded with empty LLM fields. Reports
render what this file holds and never recompute an overhead.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from profiler.results.files import ResultFile, Strict

Direction = Literal["latency", "throughput"]


class MetricRow(Strict):
    metric: str  # the summary key: mean_ttft_ms, output_throughput, or "name [case]" for suites
    family: str  # the catalogue metric (ttft, tps) or the suite's metric name
    stat: str  # mean, p50, p90, p99, value
    direction: Direction
    unit: str
    on: float | None
    off: float | None
    overhead_pct: float | None
    ci_low: float | None
    ci_high: float | None
    significant: bool | None  # None: no interval, so no verdict
    n_on: int
    n_off: int
    # suites: which suite, measurement and case the row belongs to
    suite: str | None = None
    name: str | None = None
    case: str | None = None


class NodeRow(Strict):
    """One node's value of one metric in one leg, when the runs came from several nodes (fleet
    suites, or a distributed run's client nodes): the nodes as a dimension of the comparison."""

    leg: str  # "on" or "off" (the comparison's two sides)
    node: str  # the node's address (manifest cluster.node, or requests.parquet ``node``)
    metric: str  # the metric row's key (MetricRow.metric)
    value: float | None  # that node's mean
    n: int  # repetitions (suites) or requests (LLM) behind it
    vs_reference_pct: float | None  # overhead of this node's value against the pooled reference leg


class Method(Strict):
    bootstrap: str  # the design: blocks | paired | independent | repetitions
    n_boot: int | None  # None: no resampling (t-intervals only)
    confidence: float
    seed: int | None
    interval: str  # how every CI in this file was formed
    throughput: str | None = None
    slos: dict[str, float] | None = None
    blocks: int | None = None  # complete blocks compared (design "blocks")
    pilot_blocks: int | None = None  # two-stage interval: the blocks that set the spread


class Warn(Strict):
    code: str
    message: str
    leg: str | None = None


class RunRef(Strict):
    path: str
    run_id: str
    status: str | None = None


class PaperBucket(Strict):
    count: int
    tps: float | None


class PaperLeg(Strict):
    samples: int
    ttft_s: float | None
    itl_s: float | None
    tps: float | None
    buckets: dict[str, PaperBucket]


class PaperView(Strict):
    """arXiv:2409.03992's statistics per leg, and their overheads (DESIGN §4 sign)."""

    label: str
    on: PaperLeg
    off: PaperLeg
    #: ttft, itl, tps and tps_<bucket>: overhead in % (point estimates, as in the paper)
    overheads: dict[str, float | None] = Field(default_factory=dict)


class VolumeBin(Strict):
    lo: float
    hi: float
    n_on: int
    n_off: int
    median_tokens: float
    overhead_pct: float | None
    ci_low: float | None
    ci_high: float | None


class ParamCI(Strict):
    value: float | None
    ci_low: float | None
    ci_high: float | None


class AltFit(Strict):
    form: str
    params: dict[str, float]
    aic_bins: float | None
    note: str
    equation: str | None = None


class CurvePoints(Strict):
    tokens: list[float]
    overhead_pct: list[float | None]
    ci_low: list[float | None]
    ci_high: list[float | None]


class VolumeFit(Strict):
    form: str
    equation: str
    params: dict[str, ParamCI]
    phi_output_share: float
    r2_on: float | None
    r2_off: float | None
    aic_bins: float | None
    alternative: AltFit | None
    better_fit_on_bins: str
    token_range: list[float]
    overhead_at_min_pct: float | None
    overhead_at_max_pct: float | None
    tokens_below_5pct: float | None
    tokens_below_1pct: float | None
    change_per_10k_tokens_pct: float | None
    change_per_10k_tokens_ci: list[float] | None
    change_unit: str
    extrapolated: bool
    curve: CurvePoints | None = None


class TokenVolume(Strict):
    metric: str
    bins: list[VolumeBin] = Field(default_factory=list)
    fit: VolumeFit | None = None
    reason: str | None = None
    #: how the bin CIs were formed (the same design as the overhead table, or named here)
    interval: str | None = None


class PrecisionNeed(Strict):
    target_pct: float  # a CI half-width, in overhead points
    blocks: int | None  # blocks needed for it (None: out of reach)
    minutes: float | None  # at this comparison's measured time per block


class PowerRow(Strict):
    metric: str
    blocks: int  # blocks (or runs per leg) the spread was measured on
    sd_log: float | None  # spread of the per-block log ratios (or of the run-level difference)
    half_width_pct: float | None  # the CI half-width now, overhead points
    mde_pct: float | None  # the smallest overhead detected with 80% power at 95% confidence
    needed: list[PrecisionNeed] = Field(default_factory=list)


class Power(Strict):
    """How precise this comparison is and what more precision would cost (DESIGN §4)."""

    design: str
    confidence: float
    power: float
    block_seconds: float | None  # measured wall time of one block (every leg once)
    rows: list[PowerRow] = Field(default_factory=list)
    note: str | None = None


class LegRuns(Strict):
    on: list[RunRef]
    off: list[RunRef]


class Comparison(ResultFile):
    FILE: ClassVar[str] = "comparison.json"

    kind: Literal["comparison"] = "comparison"
    subject: str = "llm"  # "llm", or the suite compared (cpu, io, net, zk, gpu)
    leg: str | None = None  # the leg called "on" below (k-leg profiles: its name)
    reference: str | None = None  # the leg called "off" below (its baseline, or the chain's step)
    tool_version: str
    model: str | None
    aa: bool
    created: str
    on_runs: list[str]
    off_runs: list[str]
    runs: LegRuns | None = None
    method: Method
    metrics: list[MetricRow]
    paper_compat: PaperView | None = None
    token_volume: TokenVolume | None = None
    warnings: list[Warn] = Field(default_factory=list)
    environment: dict[str, dict[str, Any]] = Field(default_factory=dict)
    power: Power | None = None
    nodes: list[NodeRow] = Field(default_factory=list)  # empty unless runs came from several nodes

    def row(self, key: str) -> MetricRow | None:
        """The row of one metric key (``mean_ttft_ms``), or None."""
        return next((r for r in self.metrics if r.metric == key), None)
