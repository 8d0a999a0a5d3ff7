"""Strict configuration: models.yaml and workload specs (DESIGN §6, §8.3).

Unknown keys are errors. An error names the offending key, the file and the line, e.g.

    models.yaml:14: models.tiny-llama.engine.tensor_paralel: unknown key (known: args, name, ...)
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from catalog.registry import Registry, UnknownName
from profiler.errors import UserError

REPO_MODELS = Path(__file__).resolve().parent.parent / "models.yaml"
PACKAGE_MODELS = Path(__file__).resolve().parent / "models.yaml"
MODELS_ENV = "TEE_LLM_PROF_MODELS"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Rate = float  # requests/s; math.inf = send as fast as the concurrency cap allows


def _known(registry: Registry[Any], name: str) -> str:
    """``name`` if registered; else a validation error that lists the known names."""
    try:
        return registry.check(name)
    except UnknownName as exc:
        raise ValueError(str(exc)) from None


#: The default warm-up never exceeds this many requests (a run at concurrency 1000 with 10
#: measured requests must not send 1000 first).
WARMUP_CEILING = 64


class WorkloadSpec(Strict):
    """What one leg sends. Every leg of a block uses the same spec and seed."""

    dataset: str = Field(
        "random", description="random | sharegpt:PATH | prefix | lengths:PATH (a registered dataset)"
    )
    api: Literal["completions", "chat"] = Field("completions", description="the OpenAI API to call")
    input_len: int = Field(128, ge=1, description="prompt tokens")
    output_len: int = Field(128, ge=1, description="generated tokens (max_tokens with ignore_eos: exact)")
    range_ratio: float = Field(0.0, ge=0.0, lt=1.0, description="random lengths uniform in ±ratio")
    prefix_len: int = Field(0, ge=0, description="shared-prefix tokens (dataset prefix)")
    num_requests: int = Field(200, ge=1, description="measured requests per run")
    duration_s: float | None = Field(
        None,
        gt=0,
        description="stop sending after this many seconds (per run: blocks bounded by time; "
        "the run also ends at num_requests, whichever comes first)",
    )
    concurrency: int = Field(8, ge=1, description="max requests in flight")
    request_rates: list[Rate] = Field(
        default_factory=lambda: [math.inf], description="load points in req/s, e.g. 1,4,16,inf"
    )
    schedule: str | None = Field(
        None,
        description="arrival process: inf | constant | poisson | gamma (default: from rate and burstiness)",
    )
    burstiness: float = Field(1.0, gt=0, description="gamma shape: 1 = Poisson, < 1 burstier, inf = constant")
    ramp_up_s: float = Field(0.0, ge=0, description="seconds over which the rate ramps up")
    warmup: int | None = Field(
        None, ge=0, description="warm-up requests per run (default: min(concurrency, num_requests, 64))"
    )
    repeats: int = Field(8, ge=1, description="blocks per load point (every leg once per block)")
    seed: int = Field(0, description="workload seed (block i uses seed + i)")
    timeout_s: float = Field(600.0, gt=0, description="per-request timeout in seconds")
    slos: dict[str, float] = Field(
        default_factory=dict,
        description="per-request SLOs for goodput, e.g. ttft=200 (ms; keys: ttft, tpot, e2el)",
    )

    @field_validator("request_rates", mode="before")
    @classmethod
    def _rates(cls, v: Any) -> Any:
        items = v if isinstance(v, list) else [v]
        out = []
        for item in items:
            if isinstance(item, str) and item.strip().lower() in ("inf", "infinity"):
                out.append(math.inf)
            else:
                out.append(item)
        return out

    @field_validator("request_rates")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if not v or any(r <= 0 for r in v):
            raise ValueError("request rates must be > 0 (use inf for no rate limit)")
        return v

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        from loadgen.workload import DATASETS

        name, _, arg = v.partition(":")
        _known(DATASETS, name)
        if name in ("sharegpt", "lengths") and not arg:
            raise ValueError(f"the {name} dataset needs a file: {name}:PATH")
        return v

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        from loadgen.schedule import SCHEDULES

        return None if v is None else _known(SCHEDULES, v)

    @field_validator("slos")
    @classmethod
    def _slos(cls, v: dict[str, float]) -> dict[str, float]:
        from catalog.metrics import slo_names

        for key, limit in v.items():
            if key not in slo_names():
                raise ValueError(f"unknown SLO {key!r}; known: {', '.join(slo_names())}")
            if not limit > 0:
                raise ValueError(f"SLO {key} must be a positive number of milliseconds")
        return v

    @property
    def effective_warmup(self) -> int:
        """Warm-up requests: as given, else enough to open every connection once, capped at the
        measured count and at :data:`WARMUP_CEILING` (1000 connections need not all warm up)."""
        if self.warmup is not None:
            return self.warmup
        return min(self.concurrency, self.num_requests, WARMUP_CEILING)


class EngineSpec(Strict):
    name: str = Field("external", description="a registered engine: external, vllm-cpu, vllm-cuda, …")
    tensor_parallel_size: int = Field(1, ge=1)
    max_model_len: int | None = Field(None, ge=16)
    dtype: str = "auto"
    quantization: str | None = None
    enforce_eager: bool = False
    # Off by default: an A/A profile sends the same prompts to one server twice, and cached
    # prefixes would make the second leg look faster than the first.
    prefix_caching: bool = False
    ready_timeout_s: float = Field(600.0, gt=0, description="seconds to wait for /health")
    extra_args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _engine(cls, v: str) -> str:
        from profiler.engines import ENGINES

        return _known(ENGINES, v)


class Endpoints(Strict):
    tee_on: str | None = None
    tee_off: str | None = None


class TokenizerSpec(Strict):
    """How to obtain a tokenizer offline: a BPE trained locally, or a synthetic one of a size."""

    kind: Literal["generated-bpe", "synthetic", "path"] = "synthetic"
    vocab_size: int | None = Field(None, ge=16)
    path: str | None = None


LEG_NAME = re.compile(r"^[a-z0-9_-]{1,40}$")


def check_leg_name(name: str) -> str:
    if not LEG_NAME.match(name):
        raise ValueError(f"leg name {name!r}: use lower-case letters, digits, '_' or '-' (e.g. tdx, cc)")
    return name


class ModelEntry(Strict):
    hf_id: str
    served_name: str
    description: str = ""
    architecture: dict[str, Any] = Field(
        default_factory=dict, description="HF config.json fields for dummy / generated weights"
    )
    tokenizer: TokenizerSpec = Field(default_factory=TokenizerSpec)
    engine: EngineSpec = Field(default_factory=EngineSpec)
    endpoints: Endpoints = Field(default_factory=Endpoints)
    #: named legs beyond the on/off pair, e.g. {base: URL, tdx: URL, cc: URL} (k-leg profiles)
    legs: dict[str, str] = Field(default_factory=dict)
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    seed: int = 0

    @field_validator("legs")
    @classmethod
    def _leg_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            check_leg_name(name)
        return v


class ModelsFile(Strict):
    models: dict[str, ModelEntry]


# --------------------------------------------------------------------------- YAML with lines


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key (for error messages)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    lines = {}
    for key_node, _ in node.value:
        lines[key_node.value] = key_node.start_mark.line + 1
    mapping["__lines__"] = lines
    return cast(dict[str, Any], mapping)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _strip_lines(v) for k, v in data.items() if k != "__lines__"}
    if isinstance(data, list):
        return [_strip_lines(v) for v in data]
    return data


def _line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    line = None
    node = data
    for part in loc:
        if isinstance(node, dict):
            line = node.get("__lines__", {}).get(part, line)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            break
    return line


def format_validation_error(exc: ValidationError, source: str, raw: Any = None) -> str:
    """One line per problem: ``file:line: dotted.key: message``."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        # pydantic appends the union/validator name to the loc for some errors; keep keys only
        key = ".".join(str(p) for p in loc)
        line = _line_of(raw, loc) if raw is not None else None
        where = f"{source}:{line}" if line else source
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{where}: {key}: {msg}")
    return "\n".join(lines)


def load_yaml(path: Path) -> Any:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: invalid YAML: {exc}") from None


def parse_strict(model: type[Strict], data: Any, source: str) -> Any:
    """Validate raw YAML/JSON data against a strict model; raise UserError naming key and line."""
    try:
        return model.model_validate(_strip_lines(data))
    except ValidationError as exc:
        raise UserError(format_validation_error(exc, source, data)) from None


def models_path(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV])
    if Path("models.yaml").is_file():
        return Path("models.yaml")
    return REPO_MODELS if REPO_MODELS.is_file() else PACKAGE_MODELS


def load_models(path: str | Path | None = None) -> dict[str, ModelEntry]:
    p = models_path(path)
    raw = load_yaml(p)
    if not isinstance(raw, dict):
        raise UserError(f"{p}: expected a mapping with a 'models' key")
    parsed: ModelsFile = parse_strict(ModelsFile, raw, str(p))
    return dict(parsed.models)


def get_model(key: str, path: str | Path | None = None) -> ModelEntry:
    models = load_models(path)
    if key not in models:
        raise UserError(f"unknown model {key!r}; known models: {', '.join(sorted(models))}")
    return models[key]
