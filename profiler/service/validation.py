"""GET /api/validate: the CC-mode validation of this host (``profiler.validate``).

Called in a worker thread (it queries NVML, reads /dev, sysfs and configfs-tsm). The bandwidth
probe is never run from here: it would load the GPU and perturb a profile running beside it.
"""

from __future__ import annotations

from typing import Any


def run_validation(expect: str = "on") -> dict[str, Any]:
    from profiler.validate import validate

    result: dict[str, Any] = validate(expect, probe=False)
    return result
