"""Legs: the endpoints an experiment compares, and where they come from.

A :class:`Leg` is one named endpoint (``on``/``off``, or ``base``/``tdx``/``cc``): its base URL,
the model name it serves, what serves it (engine info for the manifest), its /metrics URL and a
local tokenizer when one matches the server. Every measuring command uses this one type.

:func:`resolve_legs` yields the legs of a model, first match wins:

1. named legs on the command line (``--leg NAME=URL``, repeatable: k legs), or
   ``--tee-on/--tee-off`` (the two-leg shorthand);
2. the model's ``legs: {name: url}`` in models.yaml, else its ``endpoints: {tee_on, tee_off}``;
3. the model's engine, launched here for the duration of the ``with`` block and always stopped
   (the embedded default). Both legs are then the same server: an A/A calibration.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from profiler.config import ModelEntry
from profiler.results.evidence import LegEvidence

AA_NOTE = (
    "A/A calibration: both legs are the same endpoint, so every difference below is noise "
    "(the noise floor of this setup), not a TEE overhead."
)

#: The two-leg shorthand: the TEE leg and its baseline (positive overhead = the TEE costs).
TEE_ON, TEE_OFF = "on", "off"


@dataclass(frozen=True)
class Leg:
    name: str
    base_url: str
    served_model: str
    engine: Mapping[str, Any] = field(default_factory=dict)
    metrics_url: str | None = None
    tokenizer: str | None = None
    evidence: LegEvidence | None = None  # the host's TEE evidence (profiler.experiment.evidence)

    @property
    def label(self) -> str:  # the run manifest's name for it
        return self.name


def is_aa(legs: Sequence[Leg]) -> bool:
    """All legs are one endpoint: every difference between them is noise."""
    return len({leg.base_url.rstrip("/") for leg in legs}) < 2


def _from_endpoint(name: str, ep: Any) -> Leg:
    return Leg(name, ep.base_url, ep.served_model, dict(ep.engine), ep.metrics_url, ep.tokenizer)


def parse_leg_args(items: Sequence[str]) -> dict[str, str]:
    """``--leg NAME=URL`` (repeatable) → {name: url}; names checked, each given once."""
    from profiler.config import check_leg_name
    from profiler.errors import UserError

    out: dict[str, str] = {}
    for item in items:
        name, sep, url = item.partition("=")
        if not sep or not url:
            raise UserError(f"--leg expects NAME=URL (e.g. tdx=http://10.0.0.6:8000), got {item!r}")
        try:
            check_leg_name(name)
        except ValueError as exc:
            raise UserError(f"--leg: {exc}") from None
        if name in out:
            raise UserError(f"--leg {name} is given twice; every leg needs its own name")
        out[name] = url
    return out


def plan_legs(
    entry: ModelEntry, tee_on: str | None, tee_off: str | None, named: Mapping[str, str]
) -> dict[str, str]:
    """{leg: URL} of an experiment, first match wins: ``--leg`` NAME=URL, ``--tee-on/--tee-off``,
    models.yaml ``legs``, models.yaml ``endpoints``. Empty: launch the model's engine."""
    if named:
        if tee_on or tee_off:
            from profiler.errors import UserError

            raise UserError("give the legs either as --leg NAME=URL or as --tee-on/--tee-off, not both")
        return dict(named)
    on, off = tee_on or entry.endpoints.tee_on, tee_off or entry.endpoints.tee_off
    if not (tee_on or tee_off) and entry.legs:
        return dict(entry.legs)
    if on or off:
        return {TEE_ON: on or off or "", TEE_OFF: off or on or ""}
    return {}


@contextlib.contextmanager
def resolve_legs(
    entry: ModelEntry,
    tee_on: str | None = None,
    tee_off: str | None = None,
    *,
    named: Mapping[str, str] | None = None,
    key: str | None = None,
    port: int | None = None,
    log_dir: Path | None = None,
    console: Console | None = None,
) -> Iterator[list[Leg]]:
    """Yield the legs (``[on, off]``, or every ``--leg``); launch the model's engine when no
    endpoint is known, and always stop it when the block ends (exception and Ctrl-C included).
    Every URL is probed once (distinct URLs only) and must serve the model."""
    from profiler.engines import ENGINES, LaunchOptions
    from profiler.engines.external import probe

    urls = plan_legs(entry, tee_on, tee_off, named or {})
    if urls:
        eps = {u: probe(u, entry.served_name) for u in dict.fromkeys(urls.values())}
        yield [_from_endpoint(name, eps[u]) for name, u in urls.items()]
        return
    engine = ENGINES.get(entry.engine.name)
    opts = LaunchOptions(port=port, log_dir=log_dir, console=console)
    with engine.launch(entry, key or entry.served_name, opts) as ep:
        yield [_from_endpoint(TEE_ON, ep), _from_endpoint(TEE_OFF, ep)]
