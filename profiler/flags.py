"""Workload flags generated from :class:`profiler.config.WorkloadSpec`, in one place.

Every command that sends a workload (``profile``, ``sweep``, ``run``) and the service build
their options from :data:`FLAGS`: the flag name, type, choices and help text all come from the
WorkloadSpec field, so the CLI, the service and models.yaml cannot drift apart (a field added
to WorkloadSpec with ``flag`` metadata appears everywhere at once).

Values given on the command line override the model's workload from models.yaml; the merged
spec is validated strictly, and dataset and schedule names are checked against their
registries right then, before any engine starts or any request is sent.
"""

from __future__ import annotations

import argparse
import math
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from profiler.config import WorkloadSpec, parse_strict
from profiler.errors import UserError


@dataclass(frozen=True)
class Flag:
    field: str  # the WorkloadSpec field
    flag: str  # --num-requests
    metavar: str | None = None
    aliases: tuple[str, ...] = ()


def _rates(text: str) -> list[float]:
    out = []
    for part in (t.strip() for t in str(text).split(",")):
        if not part:
            continue
        if part.lower() in ("inf", "infinity"):
            out.append(math.inf)
            continue
        try:
            out.append(float(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a rate: {part!r} (a number of req/s, or inf)") from None
    if not out:
        raise argparse.ArgumentTypeError("give at least one rate, e.g. 1,4,inf")
    return out


def _slo(text: str) -> tuple[str, float]:
    key, sep, value = str(text).partition("=")
    try:
        limit = float(value)
    except ValueError:
        limit = math.nan
    if not sep or not key.strip() or math.isnan(limit):
        raise argparse.ArgumentTypeError(f"expected KEY=MS (e.g. ttft=200), got {text!r}")
    return key.strip(), limit


#: The WorkloadSpec fields a command line may set, in --help order.
FLAGS: tuple[Flag, ...] = (
    Flag("dataset", "--dataset", "NAME[:ARG]"),
    Flag("api", "--api"),
    Flag("input_len", "--input-len", "N"),
    Flag("output_len", "--output-len", "N"),
    Flag("range_ratio", "--range-ratio", "R"),
    Flag("prefix_len", "--prefix-len", "N"),
    Flag("num_requests", "--num-requests", "N"),
    Flag("duration_s", "--duration", "S", aliases=("--block-duration",)),
    Flag("concurrency", "--concurrency", "N"),
    Flag("request_rates", "--request-rates", "R[,R…]", aliases=("--request-rate",)),
    Flag("schedule", "--schedule", "NAME"),
    Flag("burstiness", "--burstiness", "B"),
    Flag("ramp_up_s", "--ramp-up", "S"),
    Flag("warmup", "--warmup", "N"),
    Flag("repeats", "--repeats", "N"),
    Flag("seed", "--seed", "N"),
    Flag("timeout_s", "--timeout", "S"),
    Flag("slos", "--slo", "KEY=MS"),
)
BY_FIELD: dict[str, Flag] = {f.field: f for f in FLAGS}


def _kind(field: str) -> tuple[Any, dict[str, Any]]:
    """argparse ``type`` and extra keywords for a WorkloadSpec field, from its annotation."""
    if field == "request_rates":
        return _rates, {}
    if field == "slos":
        return _slo, {"action": "append"}
    annotation = typing.get_type_hints(WorkloadSpec)[field]
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    base = args[0]
    if typing.get_origin(base) is Literal:
        return str, {"choices": list(typing.get_args(base))}
    return (base if base in (int, float, str) else str), {}


def add_workload_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    fields: Iterable[str] | None = None,
    *,
    defaults: str = "the model's workload in models.yaml",
) -> None:
    """Add one flag per WorkloadSpec field (all of :data:`FLAGS`, or ``fields``); every default
    is None, so an absent flag keeps ``defaults`` (named in the help)."""
    wanted = set(fields) if fields is not None else None
    for f in FLAGS:
        if wanted is not None and f.field not in wanted:
            continue
        info = WorkloadSpec.model_fields[f.field]
        kind, extra = _kind(f.field)
        desc = info.description or f.field.replace("_", " ")
        default = info.get_default(call_default_factory=True)
        shown = ",".join(f"{x:g}" for x in default) if isinstance(default, list) else default
        help_text = f"{desc} (default: {defaults}; built in: {shown})".replace("%", "%%")
        parser.add_argument(
            f.flag,
            *f.aliases,
            dest=f.field,
            type=kind,
            default=None,
            metavar=f.metavar,
            help=help_text,
            **extra,
        )


def overrides(args: argparse.Namespace, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """field → value for every workload flag the user gave."""
    out: dict[str, Any] = {}
    for f in FLAGS:
        if fields is not None and f.field not in set(fields):
            continue
        value = getattr(args, f.field, None)
        if value is None:
            continue
        out[f.field] = dict(value) if f.field == "slos" else value
    return out


def resolve_workload(
    base: WorkloadSpec, given: Mapping[str, Any], source: str = "command line"
) -> WorkloadSpec:
    """``base`` with ``given`` applied, validated strictly (one line per problem, flag names)."""
    data = {**base.model_dump(), **given}
    try:
        workload: WorkloadSpec = parse_strict(WorkloadSpec, data, source)
    except UserError as exc:
        raise UserError(_flag_names(str(exc)).replace("\n", "; ")) from None
    return workload


def _flag_names(message: str) -> str:
    """``command line: num_requests: …`` → ``--num-requests: …`` (what the user typed)."""
    for f in FLAGS:
        message = message.replace(f"command line: {f.field}:", f"{f.flag}:")
        message = message.replace(f"command line: {f.field}.", f"{f.flag} ")
    return message


def to_argv(values: Mapping[str, Any]) -> list[str]:
    """The command-line flags that set ``values`` (field → value): for subprocesses."""
    argv: list[str] = []
    for field, value in values.items():
        f = BY_FIELD[field]
        if value is None:
            continue
        if field == "slos":
            for key, limit in dict(value).items():
                argv += [f.flag, f"{key}={limit:g}"]
        elif isinstance(value, Sequence) and not isinstance(value, str):
            argv += [f.flag, ",".join("inf" if v in ("inf", math.inf) else f"{float(v):g}" for v in value)]
        else:
            argv += [f.flag, str(value)]
    return argv
