"""One real LLM run for tests: the production executor (profiler.experiment.request.execute)
with the keyword style tests read best in."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from profiler.config import WorkloadSpec
from profiler.experiment.legs import Leg
from profiler.experiment.request import ClientOptions, RunRequest, execute


def run_once(
    out: Path,
    *,
    endpoint: str,
    served_model: str,
    workload: WorkloadSpec,
    label: str = "run",
    request_rate: float = math.inf,
    model_key: str | None = None,
    engine: dict[str, Any] | None = None,
    metrics_url: str | None = None,
    tokenizer: str | None = None,
    progress: bool = False,
    workers: int = 1,
    **request: Any,
) -> Path:
    leg = Leg(label, endpoint, served_model, engine or {}, metrics_url, tokenizer)
    return execute(
        RunRequest(
            out=Path(out), leg=leg, workload=workload, request_rate=request_rate, model_key=model_key,
            client=ClientOptions(workers=workers, progress=progress), **request,
        )
    )
