"""Run directories (DESIGN §5): the contract between run, import, compare, report and service.

    <out>/<run_id>/manifest.json      what ran, where, with which config; status complete|incomplete
    <out>/<run_id>/requests.parquet   one row per request (loadgen.metrics.REQUEST_COLUMNS + extras)
    <out>/<run_id>/summary.json       the vLLM-compatible summary
    <out>/<run_id>/<name>.parquet     further tables: telemetry, server_metrics, results (suites)

The manifest is written first with ``status: running`` and rewritten last, so a directory
whose process died is recognisable. Writes go to a temporary name and are renamed into place.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from loadgen.metrics import REQUEST_COLUMNS
from profiler import __version__

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
SUMMARY = "summary.json"
REQUESTS = "requests.parquet"
COMPARISON = "comparison.json"
PROFILE = "profile.json"

STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"
STATUS_INCOMPLETE = "incomplete"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id(label: str, model: str | None = None) -> str:
    """Sortable, unique, readable: 20261126T053800Z-on-tiny-llama-3f9a."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    parts = [stamp, _slug(label)]
    if model:
        parts.append(_slug(model))
    parts.append(secrets.token_hex(2))
    return "-".join(p for p in parts if p)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._" else "-" for c in text).strip("-")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _clean(obj: Any) -> Any:
    """NaN/inf are not JSON: store them as null (and inf request rates as the string 'inf')."""
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_clean(data), indent=2, default=_json_default, allow_nan=False) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(path).read_text())
    return data


def write_table(path: Path, frame: pd.DataFrame) -> None:
    tmp = path.with_name(path.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


@dataclass
class Run:
    """A run directory read back."""

    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    _tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id", self.path.name))

    @property
    def label(self) -> str:
        return str(self.manifest.get("label", ""))

    @property
    def complete(self) -> bool:
        return self.manifest.get("status") == STATUS_COMPLETE

    def table(self, name: str) -> pd.DataFrame | None:
        """``requests``, ``telemetry``, ``server_metrics``, ``results``… or None if absent."""
        if name not in self._tables:
            path = self.path / f"{name}.parquet"
            if not path.exists():
                return None
            self._tables[name] = pd.read_parquet(path)
        return self._tables[name]

    @property
    def requests(self) -> pd.DataFrame:
        frame = self.table("requests")
        if frame is None:
            raise FileNotFoundError(f"{self.path} has no {REQUESTS}")
        return frame


class RunWriter:
    """Creates a run directory and keeps its manifest true while the run goes on.

    Use ``start()`` before measuring (the manifest says ``running``), then ``finish()`` with
    whatever was measured; ``finish(status="incomplete", reason=...)`` on error or Ctrl-C.
    """

    def __init__(self, out: Path, manifest: Mapping[str, Any], run_id: str | None = None) -> None:
        label = str(manifest.get("label", "run"))
        self.run_id = run_id or new_run_id(label, manifest.get("model"))
        self.path = Path(out) / self.run_id
        self.manifest: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "kind": "llm",
            "tool_version": __version__,
            **manifest,
        }

    def start(self) -> Path:
        self.path.mkdir(parents=True, exist_ok=False)
        self.manifest.setdefault("started", utc_now())
        self.manifest["status"] = STATUS_RUNNING
        write_json(self.path / MANIFEST, self.manifest)
        return self.path

    def finish(
        self,
        *,
        requests: pd.DataFrame | None = None,
        summary: Mapping[str, Any] | None = None,
        tables: Mapping[str, pd.DataFrame] | None = None,
        status: str = STATUS_COMPLETE,
        reason: str | None = None,
        **manifest_updates: Any,
    ) -> Path:
        if not self.path.exists():
            self.start()
        if requests is not None:
            missing = [c for c in REQUEST_COLUMNS if c not in requests.columns]
            if missing:
                raise ValueError(f"requests table lacks columns {missing}")
            write_table(self.path / REQUESTS, requests)
        for name, frame in (tables or {}).items():
            if frame is not None:
                write_table(self.path / f"{name}.parquet", frame)
        if summary is not None:
            write_json(self.path / SUMMARY, summary)
        self.manifest.update(manifest_updates)
        self.manifest["status"] = status
        self.manifest["finished"] = utc_now()
        if reason:
            self.manifest["reason"] = reason
        write_json(self.path / MANIFEST, self.manifest)
        return self.path


def write_run(
    out: Path,
    manifest: Mapping[str, Any],
    *,
    requests: pd.DataFrame | None = None,
    summary: Mapping[str, Any] | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    status: str = STATUS_COMPLETE,
    reason: str | None = None,
    run_id: str | None = None,
) -> Path:
    """Write a whole run directory in one call (importers, suites, tests)."""
    writer = RunWriter(out, manifest, run_id=run_id)
    writer.start()
    return writer.finish(requests=requests, summary=summary, tables=tables, status=status, reason=reason)


def is_run_dir(path: Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def is_comparison_dir(path: Path) -> bool:
    return (Path(path) / COMPARISON).is_file()


def read_run(path: Path) -> Run:
    path = Path(path)
    if not is_run_dir(path):
        raise FileNotFoundError(f"{path} is not a run directory (no {MANIFEST})")
    manifest = read_json(path / MANIFEST)
    summary = read_json(path / SUMMARY) if (path / SUMMARY).exists() else {}
    return Run(path=path, manifest=manifest, summary=summary)


def list_runs(root: Path) -> list[Path]:
    """Run directories directly under ``root`` (or nested one level, e.g. a profile), sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if is_run_dir(p)]
    for sub in root.iterdir():
        if sub.is_dir() and not is_run_dir(sub):
            found.extend(p for p in sub.iterdir() if p.is_dir() and is_run_dir(p))
    return sorted(found)
