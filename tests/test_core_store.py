"""Run directories (DESIGN §5): written, read back, and incomplete runs stay recognisable."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from catalog.registry import Registry
from loadgen.metrics import REQUEST_COLUMNS
from profiler import store


def _requests() -> pd.DataFrame:
    row: dict[str, object] = {c: 0 for c in REQUEST_COLUMNS}
    row.update(itl_ms=[1.5, 2.5], ok=True, error="", connect_ms=math.nan, ttft_ms=3.0)
    return pd.DataFrame([row, {**row, "request_id": 1, "itl_ms": []}])


def test_round_trip(tmp_path: Path) -> None:
    path = store.write_run(
        tmp_path,
        {"label": "on", "model": "tiny-llama", "workload": {"request_rate": math.inf}},
        requests=_requests(),
        summary={"mean_ttft_ms": math.nan, "completed": 2},
    )
    run = store.read_run(path)
    assert run.complete and run.label == "on" and run.run_id == path.name
    assert run.manifest.schema_version == store.SCHEMA_VERSION
    assert run.manifest.model_dump()["workload"]["request_rate"] == "inf"  # JSON has no inf
    assert run.llm.completed == 2 and run.llm.get("mean_ttft_ms") is None
    assert json.loads((path / store.SUMMARY).read_text())["mean_ttft_ms"] is None  # NaN stored as null
    assert list(run.requests["itl_ms"].iloc[0]) == [1.5, 2.5]
    assert run.table("telemetry") is None
    assert store.list_runs(tmp_path) == [path]
    json.loads((path / store.MANIFEST).read_text())  # strict JSON, no NaN


def test_writer_marks_running_then_incomplete(tmp_path: Path) -> None:
    writer = store.RunWriter(tmp_path, {"label": "off"})
    path = writer.start()
    assert store.read_run(path).manifest.status == store.STATUS_RUNNING
    writer.finish(requests=_requests(), status=store.STATUS_INCOMPLETE, reason="interrupted (Ctrl-C)")
    run = store.read_run(path)
    assert not run.complete and run.manifest.reason == "interrupted (Ctrl-C)"
    assert len(run.requests) == 2


def test_missing_columns_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lacks columns"):
        store.write_run(tmp_path, {"label": "on"}, requests=pd.DataFrame({"request_id": [1]}))


def test_registry_rejects_duplicates_and_lists_known() -> None:
    reg: Registry[int] = Registry("widget")
    reg.add("a", 1)
    with pytest.raises(ValueError, match="duplicate widget"):
        reg.add("a", 2)
    with pytest.raises(KeyError, match="known: a"):
        reg.get("b")
