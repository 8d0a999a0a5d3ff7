"""Which comparison a set of runs gets: by the kind of run, from a registry.

LLM runs (``manifest.kind == "llm"``) are compared request by request
(:func:`profiler.analysis.compare.compare_runs`); suite runs keep a tidy results table and are
compared over repetitions (:func:`profiler.suites.compare.compare_suite_dirs`). The comparers
are named by import path and imported on use, so neither module imports the other.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from catalog.registry import Registry
from profiler.analysis.legs import expand_paths
from profiler.results.comparison import Comparison
from profiler.store import read_run

Comparer = Callable[..., Comparison]

#: run kind → "module:function" comparing such runs
COMPARERS: Registry[str] = Registry("comparison kind")
COMPARERS.add("llm", "profiler.analysis.compare:compare_runs")
COMPARERS.add("suite", "profiler.suites.compare:compare_suite_dirs")


def kind_of(paths: Sequence[Path]) -> str:
    """``llm`` when every run is an LLM run, ``suite`` when any was written by a suite."""
    kinds = {read_run(p).manifest.kind for p in expand_paths(paths)}
    return "llm" if kinds <= {"llm"} else "suite"


def comparer(kind: str) -> Comparer:
    module, _, name = COMPARERS.get(kind).partition(":")
    return cast(Comparer, getattr(importlib.import_module(module), name))


def compare_dirs(on: Sequence[Path], off: Sequence[Path], out: Path, **options: Any) -> Comparison:
    """Compare the runs under ``on`` and ``off`` with the comparer of their kind."""
    return comparer(kind_of([*on, *off]))(list(on), list(off), out, **options)
