"""What a client may ask the service for: strict request models, and the SSRF guard.

A profile request names a model *key* from models.yaml plus workload overrides; nothing else.
Endpoints come only from models.yaml, so the service can never be pointed at another host:
a body carrying any URL, any ``tee_on``/``tee_off``/``endpoint`` field or any unknown key is
rejected with a 400 before anything is queued.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from profiler.config import ModelEntry, WorkloadSpec
from profiler.errors import UserError

# Fields that would name a target; refused with a message that says why (not just "unknown").
TARGET_KEYS = frozenset(
    {"tee_on", "tee_off", "endpoint", "endpoints", "url", "base_url", "metrics_url", "host"}
)
MAX_RATES = 32


class BadRequest(UserError):
    """A request body the service refuses (HTTP 400); the message says what to fix."""


class ProfileRequest(BaseModel):
    """POST /api/profiles. Every field but ``model`` overrides the model's workload defaults."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    model: str = Field(
        ...,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
        description="a model key from the service's models.yaml",
    )
    num_requests: int | None = Field(None, ge=1, le=100_000)
    concurrency: int | None = Field(None, ge=1, le=4096)
    request_rates: list[float | Literal["inf"]] | None = Field(
        None, min_length=1, max_length=MAX_RATES, description='requests/s each; "inf" = no limit'
    )
    input_len: int | None = Field(None, ge=1, le=1_000_000)
    output_len: int | None = Field(None, ge=1, le=1_000_000)
    repeats: int | None = Field(None, ge=1, le=100)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    # A dataset *name* (random, prefix, …); never a path: the service must not read
    # arbitrary server-side files on a client's behalf.
    dataset: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    api: Literal["completions", "chat"] | None = None

    @field_validator("request_rates")
    @classmethod
    def _rates(cls, v: list[float | str] | None) -> list[float | str] | None:
        for r in v or []:
            if isinstance(r, float | int) and not (0 < r < math.inf):
                raise ValueError("request rates must be > 0 and finite (use \"inf\" for no limit)")
        return v

    def overrides(self) -> dict[str, Any]:
        """The workload fields the client set (field name → value), without ``model``."""
        return self.model_dump(exclude={"model"}, exclude_none=True)


def find_urls(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string that looks like a URL, anywhere in ``value``."""
    if isinstance(value, str):
        low = value.lower()
        if "://" in low or low.startswith(("//", "www.")):
            return path or "(body)"
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            hit = find_urls(k, path) or find_urls(v, f"{path}.{k}" if path else str(k))
            if hit:
                return hit
    if isinstance(value, list):
        for i, v in enumerate(value):
            hit = find_urls(v, f"{path}[{i}]")
            if hit:
                return hit
    return None


def parse_json_body(raw: bytes) -> Any:
    """Bytes → JSON value, or a BadRequest naming where the JSON broke."""
    if not raw.strip():
        raise BadRequest("empty body: send a JSON object such as {\"model\": \"tiny-llama\"}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("body is not UTF-8 text") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    except RecursionError:
        raise BadRequest("invalid JSON: nested too deeply") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON: {name} is not a JSON number")


def parse_profile_request(data: Any) -> ProfileRequest:
    if not isinstance(data, dict):
        raise BadRequest(f"expected a JSON object, got {_json_type(data)}")
    targets = sorted(k for k in data if isinstance(k, str) and k.lower() in TARGET_KEYS)
    if targets:
        raise BadRequest(
            f"field {targets[0]!r} is not accepted: the service only profiles the endpoints "
            "named in its models.yaml; choose them with \"model\""
        )
    url_at = find_urls(data)
    if url_at:
        raise BadRequest(
            f"{_printable(url_at)}: URLs are not accepted; the service only profiles the endpoints named "
            "in its models.yaml"
        )
    try:
        return ProfileRequest.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(_one_line(exc)) from None


def resolve_workload(entry: ModelEntry, req: ProfileRequest) -> WorkloadSpec:
    """The workload the profile will run: the model's defaults with the request's overrides,
    validated again by the config model so a job never fails on a value we could have refused."""
    merged = entry.workload.model_dump()
    merged.update(req.overrides())
    try:
        return WorkloadSpec.model_validate(merged)
    except ValidationError as exc:
        raise BadRequest(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        key = ".".join(_printable(p) for p in err["loc"]) or "(body)"
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{key}: {msg}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _printable(part: Any) -> str:
    """A key as it can appear in a one-line message (client keys may hold anything)."""
    text = str(part)
    if not text.isprintable() or len(text) > 60:
        text = repr(text[:60])
    return text


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    for t, name in names.items():
        if isinstance(value, t):
            return name
    return "a number"
