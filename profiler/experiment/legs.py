"""Legs: the endpoints an experiment compares, and where they come from.

A :class:`Leg` is one named endpoint (``on``/``off``, or ``base``/``tdx``/``cc``): its base URL,
the model name it serves, what serves it (engine info for the manifest), its /metrics URL and a
local tokenizer when one matches the server. Every measuring command uses this one type.

:func:`resolve_legs` yields the legs of a model, first match wins:

1. URLs given on the command line (``--tee-on/--tee-off``);
2. the model's ``endpoints: {tee_on, tee_off}`` in models.yaml;
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

    @property
    def label(self) -> str:  # the run manifest's name for it
        return self.name


def is_aa(legs: Sequence[Leg]) -> bool:
    """All legs are one endpoint: every difference between them is noise."""
    return len({leg.base_url.rstrip("/") for leg in legs}) < 2


def _from_endpoint(name: str, ep: Any) -> Leg:
    return Leg(name, ep.base_url, ep.served_model, dict(ep.engine), ep.metrics_url, ep.tokenizer)


@contextlib.contextmanager
def resolve_legs(
    entry: ModelEntry,
    tee_on: str | None = None,
    tee_off: str | None = None,
    *,
    key: str | None = None,
    port: int | None = None,
    log_dir: Path | None = None,
    console: Console | None = None,
) -> Iterator[list[Leg]]:
    """Yield ``[on, off]``; launch the model's engine when no endpoint is known, and always stop
    it when the block ends (exception and Ctrl-C included)."""
    from profiler.engines import ENGINES, LaunchOptions
    from profiler.engines.external import probe

    on = tee_on or entry.endpoints.tee_on
    off = tee_off or entry.endpoints.tee_off
    urls = [u for u in (on, off) if u]
    if urls:
        eps = {u: probe(u, entry.served_name) for u in dict.fromkeys(urls)}
        yield [_from_endpoint(TEE_ON, eps[on or off]), _from_endpoint(TEE_OFF, eps[off or on])]  # type: ignore[index]
        return
    engine = ENGINES.get(entry.engine.name)
    opts = LaunchOptions(port=port, log_dir=log_dir, console=console)
    with engine.launch(entry, key or entry.served_name, opts) as ep:
        yield [_from_endpoint(TEE_ON, ep), _from_endpoint(TEE_OFF, ep)]
