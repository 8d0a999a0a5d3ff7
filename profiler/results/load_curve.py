"""load_curve.json: the TEE overhead against offered load, and the queueing model explaining it.

Written beside the per-point comparisons (``<out>/<point>/comparison.json``) when the compared
runs hold several load points. Each comparison stays one load point; this file is the index
across them. Every overhead and CI under ``points`` is copied from a point's comparison (or,
for summary-only sources, is a point estimate computed by the statistics home and says so);
``queueing`` holds the model fitted to each leg's measured capacity and mean TTFT.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from profiler.results.comparison import MetricRow
from profiler.results.files import Rate, ResultFile, Strict

Regime = Literal["stable", "overloaded", "unbounded"]


class LegLoad(Strict):
    """One leg at one load point: what it achieved."""

    runs: list[str] = Field(default_factory=list)
    qps: float | None  # achieved request throughput (req/s)
    output_tps: float | None  # achieved output tokens/s
    mean_ttft_ms: float | None


class CurvePoint(Strict):
    name: str  # rate=1, rate=inf, concurrency=16
    request_rate: Rate | None  # the offered load (None: the runs do not say)
    concurrency: int | None
    comparison: str | None  # the point's comparison directory, relative to this file
    interval: str  # how the CIs of ``metrics`` were formed (the comparison's method)
    on: LegLoad
    off: LegLoad
    #: the headline rows of the point's comparison: every compared metric's mean, and the
    #: run-level throughputs, with their CIs exactly as comparison.json holds them
    metrics: list[MetricRow] = Field(default_factory=list)

    def row(self, key: str) -> MetricRow | None:
        return next((m for m in self.metrics if m.metric == key), None)


class Unpaired(Strict):
    """A load point only one leg measured: listed, never silently dropped."""

    name: str
    request_rate: Rate | None
    concurrency: int | None
    leg: str
    runs: list[str]


class QueueLeg(Strict):
    capacity_qps: float | None  # μ: the measured service capacity (req/s)
    capacity_from: str  # which point(s) measured it
    t0_ms: float | None  # modelled TTFT at zero load
    knee_rate: float | None  # load at which the queueing delay equals t0 (TTFT doubles)
    knee_utilisation: float | None  # knee_rate / capacity_qps
    stable_points: int  # points below capacity that calibrate t0 (and K)


class QueuePoint(Strict):
    name: str
    request_rate: Rate | None
    regime: Regime  # stable: both legs below capacity; overloaded: both above; unbounded: between
    utilisation_on: float | None
    utilisation_off: float | None
    predicted_on_ms: float | None
    predicted_off_ms: float | None
    measured_on_ms: float | None
    measured_off_ms: float | None
    predicted_overhead_pct: float | None
    measured_overhead_pct: float | None
    ci_low: float | None
    ci_high: float | None
    #: −d ln(queueing delay) / d ln(capacity) at the baseline's utilisation ρ: a 1% loss of
    #: capacity costs this many % of queueing delay here; (2 − ρ)/(1 − ρ) below capacity,
    #: ρ/(ρ − 1) above it (queue growth), 1 at rate=inf
    amplification: float | None = None
    calibration: bool = False  # t0 was fitted on this point alone: predicted = measured by construction
    note: str = ""


class Crossing(Strict):
    limit_pct: float
    rate: float | None  # the offered load at which the predicted TTFT overhead reaches the limit
    utilisation_off: float | None  # that load as a share of the baseline's capacity
    note: str


class QueueCurve(Strict):
    """The model sampled below the smaller capacity, for plots (same arrival rate on both legs)."""

    rates: list[float]
    overhead_pct: list[float | None]
    ttft_on_ms: list[float | None]
    ttft_off_ms: list[float | None]


class QueueModel(Strict):
    form: str  # "mg1"
    equation: str
    supported: bool
    reason: str | None = None  # why the data cannot support the model
    assumptions: list[str] = Field(default_factory=list)
    k: float | None = None  # (1 + c²)/2: 1 for exponential service (M/M/1), 0.5 for deterministic
    k_fitted: bool = False
    legs: dict[str, QueueLeg] = Field(default_factory=dict)
    capacity_overhead_pct: float | None = None  # (μ_off − μ_on) / μ_off
    points: list[QueuePoint] = Field(default_factory=list)
    crossing: Crossing | None = None
    curve: QueueCurve | None = None
    interval: str = "none: point estimates (the capacity is one saturated run per leg)"


class LoadCurve(ResultFile):
    FILE: ClassVar[str] = "load_curve.json"

    kind: Literal["load_curve"] = "load_curve"
    tool_version: str
    created: str
    model: str | None
    aa: bool = False
    source: str  # compare | profile | sweep | benchmark-results
    load_kind: Literal["rate", "concurrency"] = "rate"
    #: how the CIs were formed; "none" for summary-only sources (point estimates)
    interval: str
    points: list[CurvePoint] = Field(default_factory=list)
    unpaired: list[Unpaired] = Field(default_factory=list)
    queueing: QueueModel | None = None

    def point(self, name: str) -> CurvePoint | None:
        return next((p for p in self.points if p.name == name), None)
