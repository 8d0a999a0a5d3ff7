"""Engine launchers, one registry (DESIGN §2, §7): ``external``, ``vllm-cpu``, ``vllm-cuda``.

An engine turns a models.yaml entry into a live OpenAI-compatible endpoint for the duration of a
``with`` block and records exactly what it ran (command line, version, environment) in
:attr:`Endpoint.engine`, which goes into every run manifest. Launched servers are always
stopped, whatever ends the block.

    with ENGINES.get("vllm-cpu").launch(entry, key="tiny-llama") as ep:
        ep.base_url, ep.served_model, ep.engine["command_line"]
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from catalog.registry import Registry
from profiler.config import ModelEntry


@dataclass(frozen=True)
class Endpoint:
    """A live endpoint and what serves it."""

    base_url: str
    served_model: str
    engine: dict[str, Any] = field(default_factory=dict)
    metrics_url: str | None = None
    tokenizer: str | None = None  # a local tokenizer directory that matches the server, if any


@dataclass(frozen=True)
class LaunchOptions:
    host: str = "127.0.0.1"
    port: int | None = None  # None: a free port
    log_dir: Path | None = None  # None: a temporary directory
    ready_timeout_s: float = 600.0
    console: Console | None = None


Launcher = Callable[[ModelEntry, str, LaunchOptions], AbstractContextManager[Endpoint]]


@dataclass(frozen=True)
class Engine:
    name: str
    help: str
    launch: Launcher


ENGINES: Registry[Engine] = Registry("engine")


def register(engine: Engine) -> Engine:
    ENGINES.add(engine.name, engine)
    return engine


#: Modules here that are helpers, not engines.
_HELPERS = frozenset({"process", "modelgen"})


def _load_all() -> None:
    """Every engine module registers itself on import; adding an engine is adding its module."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and info.name not in _HELPERS:
            importlib.import_module(f"{__name__}.{info.name}")


_load_all()
