"""The files of a run directory (DESIGN §5): manifest.json, summary.json, requests.parquet.

<out>/<run_id>/manifest.json      :class:`RunManifest`: what ran, where, with which config
<out>/<run_id>/summary.json       :class:`RunSummary` (LLM runs, vLLM's keys) or
                                  :class:`SuiteSummary` (suites: per metric and case)
<out>/<run_id>/requests.parquet   one row per request, columns :data:`REQUEST_TABLE`
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from catalog.metrics import summary_keys
from loadgen.health import SUMMARY_KEYS as HEALTH_KEYS
from profiler.results.cluster import ClusterRun
from profiler.results.evidence import LegEvidence
from profiler.results.files import Rate, ResultFile, Strict

Status = Literal["running", "complete", "incomplete", "failed"]
STATUS_RUNNING: Status = "running"
STATUS_COMPLETE: Status = "complete"
STATUS_INCOMPLETE: Status = "incomplete"
STATUS_FAILED: Status = "failed"


class ClockAnchor(Strict):
    """One wall-clock reading and one CLOCK_MONOTONIC reading taken together, to place
    monotonic stamps (requests, telemetry) on the wall clock; never used for intervals."""

    wall_ns: int
    perf_ns: int


class ExperimentRef(Strict):
    """Where a run belongs when an experiment (profile, sweep, suite set) ran it."""

    kind: Literal["profile", "sweep", "suite"]
    id: str
    leg: str
    point: str | None = None  # the load point's name (rate=4, concurrency=16)
    load: Rate | None = None  # the swept parameter of that point
    block: int = 0  # which block (one run of every leg, adjacent in time)
    position: int = 0  # this run's place inside its block
    aa: bool = False  # every leg of the experiment is one endpoint


class ImportSource(Strict):
    importer: str
    format: str
    file: str
    sha256: str
    index: int = 0


class RunManifest(ResultFile):
    FILE: ClassVar[str] = "manifest.json"

    run_id: str
    kind: str = "llm"  # "llm" or the suite's name (cpu, io, net, zk, gpu)
    tool_version: str
    label: str = "run"
    status: Status = STATUS_RUNNING
    reason: str | None = None
    started: str | None = None
    finished: str | None = None
    pid: int | None = None  # the process writing the run while it is ``running``
    host: str | None = None
    model: str | None = None
    served_model: str | None = None
    endpoint: str | None = None
    metrics_url: str | None = None
    engine: dict[str, Any] = Field(default_factory=dict)
    workload: dict[str, Any] | None = None  # the resolved WorkloadSpec of this run
    request_rate: Rate | None = None
    tokenizer_mode: str | None = None
    tokenizer: str | None = None
    prompt_lengths: dict[str, float] | None = None
    loadgen: dict[str, Any] | None = None
    environment: dict[str, Any] = Field(default_factory=dict)
    evidence: LegEvidence | None = None  # the leg's TEE evidence (validate here, or the user's file)
    client_health: dict[str, Any] | None = None
    wall_anchor: ClockAnchor | None = None
    t0_ns: int | None = None
    telemetry: dict[str, Any] | None = None
    connections: dict[str, Any] | None = None
    experiment: ExperimentRef | None = None
    cluster: ClusterRun | None = None  # Ray: the workers of a distributed run, or a fleet run's node
    suite: dict[str, Any] | None = None  # suites: name, resolved parameters, repetitions
    # imports from other tools
    source: ImportSource | None = None
    source_summary: dict[str, Any] | None = None
    summary_recomputed_keys: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    #: runs written by tee-llm-prof 0.1 (measurements are worth reading forever)
    OLDER: ClassVar[frozenset[int]] = frozenset({1})

    @classmethod
    def migrate(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        anchor = data.pop("wall_anchor", None)
        if isinstance(anchor, dict) and "time_ns" in anchor:
            data["wall_anchor"] = {"wall_ns": anchor["time_ns"], "perf_ns": anchor["perf_counter_ns"]}
        context = {k: data.pop(k) for k in ("profile_id", "load_point", "repeat", "aa", "sweep") if k in data}
        if "profile_id" in context:
            data["experiment"] = {
                "kind": "profile",
                "id": context["profile_id"],
                "leg": data.get("label", "run"),
                "point": context.get("load_point"),
                "block": context.get("repeat") or 0,
                "aa": bool(context.get("aa")),
            }
        elif isinstance(context.get("sweep"), dict):
            sw = context["sweep"]
            data["experiment"] = {
                "kind": "sweep",
                "id": sw.get("sweep_id", ""),
                "leg": data.get("label", "run"),
                "load": sw.get("load"),
                "block": sw.get("repeat") or 0,
            }
        return data

    @property
    def complete(self) -> bool:
        return self.status == STATUS_COMPLETE


class RunSummary(ResultFile):
    """summary.json of an LLM run: vLLM's key names (DESIGN §3).

    Counts are fields; every metric key (``mean_ttft_ms``, ``output_throughput`` …) comes from
    the metric catalogue and the client-health keys from the load generator, so the set of
    allowed keys follows :mod:`catalog.metrics` without an edit here. Any other key is an error.
    """

    FILE: ClassVar[str] = "summary.json"
    model_config = ConfigDict(extra="allow")

    completed: int = 0
    failed: int = 0
    duration: float | None = None
    total_input_tokens: int = 0
    total_output_tokens: int = 0
    tokenizer_mode: str | None = None

    OLDER: ClassVar[frozenset[int]] = frozenset({1})

    @classmethod
    def migrate(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """0.1 imports kept every scalar of the source file here (the manifest has them too)."""
        allowed = set(summary_keys()) | set(HEALTH_KEYS) | set(cls.model_fields)
        return {k: v for k, v in data.items() if k in allowed}

    @model_validator(mode="after")
    def _known_keys(self) -> RunSummary:
        allowed = set(summary_keys()) | set(HEALTH_KEYS)
        for key, value in (self.model_extra or {}).items():
            if key not in allowed:
                raise ValueError(f"{key}: unknown summary key")
            if value is not None and not isinstance(value, (int, float, bool, str)):
                raise ValueError(f"{key}: expected a number, got {type(value).__name__}")
        return self

    def get(self, key: str) -> Any:
        """A metric or health value by its summary key (None when absent)."""
        if key in type(self).model_fields:
            return getattr(self, key)
        return (self.model_extra or {}).get(key)

    def value(self, key: str) -> float | None:
        """A numeric metric value by key, None when absent or not a number."""
        v = self.get(key)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


class SuiteMetric(Strict):
    metric: str
    case: str
    unit: str
    direction: Literal["latency", "throughput"]
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    n: int


class SuiteSummary(ResultFile):
    FILE: ClassVar[str] = "summary.json"

    kind: Literal["suite"] = "suite"
    repeats: int
    metrics: list[SuiteMetric] = Field(default_factory=list)


#: requests.parquet (DESIGN §5): column → (type, meaning). The writer checks the first
#: fourteen are present; the loadgen adds the rest. Stamps are absolute perf_counter_ns
#: (CLOCK_MONOTONIC, comparable across processes of one host).
REQUEST_TABLE: dict[str, tuple[str, str]] = {
    "request_id": ("string|int", "request id, unique within the run"),
    "scheduled_ns": ("int64", "when the schedule (and the concurrency cap) let it go"),
    "sent_ns": ("int64", "stamped just before the request bytes were written (0 = never sent)"),
    "first_ns": ("int64", "arrival of the first content event (0 = none)"),
    "last_ns": ("int64", "arrival of the last content event (0 = none)"),
    "connect_ms": ("float64", "TCP connect time when this request opened a connection"),
    "ttft_ms": ("float64", "first content event − sent"),
    "tpot_ms": ("float64", "(last − first) / (output tokens − 1)"),
    "e2el_ms": ("float64", "last content event − sent"),
    "itl_ms": ("list<float64>", "every gap between consecutive content events"),
    "input_tokens": ("int64", "prompt tokens"),
    "output_tokens": ("int64", "usage.completion_tokens (fallback: events)"),
    "ok": ("bool", "sent, a success status, and content; every other row has an error"),
    "error": ("string|null", "why the request failed"),
    "end_ns": ("int64", "when the response ended (or failed)"),
    "target_ns": ("int64", "when the arrival process wanted it sent"),
    "headers_ms": ("float64", "response head complete − sent"),
    "write_ms": ("float64", "the write call's own duration"),
    "tls_ms": ("float64", "TLS handshake time when this request opened a connection"),
    "new_connection": ("bool", "this request opened its connection"),
    "retried": ("bool", "resent once: the reused connection closed before any response byte"),
    "status": ("int64", "HTTP status (0 = no response)"),
    "worker": ("int64", "client worker process"),
    "prompt_hash": ("string", "hash of the prompt text (pairs requests across legs)"),
    "max_tokens": ("int64", "max_tokens asked for (with ignore_eos)"),
    "n_events": ("int64", "content events received"),
    "warmup": ("bool", "a warm-up request (never in the results)"),
    "node": ("string", "cluster runs only: the Ray node (IP) of the worker that sent it"),
}


class RequestsTableSchema(Strict):
    """The columns of requests.parquet, as a document (exported beside the JSON Schemas)."""

    columns: dict[str, tuple[str, str]] = Field(default_factory=lambda: dict(REQUEST_TABLE))
