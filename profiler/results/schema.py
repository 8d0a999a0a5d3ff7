"""JSON Schemas of every result file, exported into ``docs/schema/`` (DESIGN §5).

    python -m profiler.results.schema docs/schema      # rewrite the committed schemas

The schemas are generated from the same pydantic models the writers and readers use, so they
cannot describe anything but what the tool writes; a test checks the committed copies are
current and that real files validate against them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from catalog.metrics import METRICS
from loadgen.health import SUMMARY_KEYS as HEALTH_KEYS
from profiler.results.comparison import Comparison
from profiler.results.decomposition import Decomposition
from profiler.results.index import ProfileIndex, SuiteIndex, SweepIndex
from profiler.results.load_curve import LoadCurve
from profiler.results.run import RequestsTableSchema, RunManifest, RunSummary, SuiteSummary

#: file stem in docs/schema → the model of that file
MODELS: dict[str, type[BaseModel]] = {
    "manifest": RunManifest,
    "summary": RunSummary,
    "suite-summary": SuiteSummary,
    "requests-table": RequestsTableSchema,
    "comparison": Comparison,
    "decomposition": Decomposition,
    "profile": ProfileIndex,
    "sweep": SweepIndex,
    "suite": SuiteIndex,
    "load-curve": LoadCurve,
}


def _summary_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """summary.json's metric keys come from the catalogue: list them, allow nothing else."""
    props = schema.setdefault("properties", {})
    for m in METRICS.values():
        for key in m.all_keys():
            props[key] = {
                "anyOf": [{"type": "number"}, {"type": "null"}],
                "description": f"{m.label} ({m.unit})",
            }
    for key in HEALTH_KEYS:
        props.setdefault(
            key,
            {
                "anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"}, {"type": "null"}],
                "description": "client health",
            },
        )
    schema["additionalProperties"] = False
    return schema


def schema_of(name: str) -> dict[str, Any]:
    model = MODELS[name]
    schema = model.model_json_schema(mode="serialization")
    if model is RunSummary:
        schema = _summary_schema(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"tee-llm-prof/{name}.schema.json"
    return schema


def render(name: str) -> str:
    return json.dumps(schema_of(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in MODELS:
        path = directory / f"{name}.schema.json"
        path.write_text(render(name))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in export(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schema")):
        print(p)
