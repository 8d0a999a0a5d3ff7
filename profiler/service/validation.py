"""GET /api/validate: the CC-mode validation of this host, from engineer E's profiler.env.

Called in a worker thread (it shells out to nvidia-smi / reads /dev and sysfs). Returns None
when this installation has no validation API, which the route answers with 501.
"""

from __future__ import annotations

import importlib
from typing import Any


def run_validation() -> dict[str, Any] | None:
    try:
        env = importlib.import_module("profiler.env")
    except ImportError:
        return None
    fn = getattr(env, "validate", None)
    if fn is None:
        return None
    result = fn()
    return result if isinstance(result, dict) else {"result": result}
