"""Secondary suites as plug-ins: llm (the main profile), cpu, io, net, zk, gpu — one registry.

A suite is one module here that calls ``SUITES.add(name, Suite(...))`` at import time;
:func:`load_all` imports every module, so adding a suite never edits the command.
"""

from __future__ import annotations

import importlib
import pkgutil

from catalog.registry import Registry
from profiler.suites.base import RESULTS_TABLE, SUITES, Rows, Suite, SuiteSkipped, run_suite

#: Modules that are helpers, not suites.
_HELPERS = frozenset({"base", "tools", "compare"})

__all__ = ["RESULTS_TABLE", "SUITES", "Rows", "Suite", "SuiteSkipped", "load_all", "run_suite"]


def load_all() -> Registry[Suite]:
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and info.name not in _HELPERS:
            importlib.import_module(f"{__name__}.{info.name}")
    return SUITES
