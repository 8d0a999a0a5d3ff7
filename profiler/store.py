"""Run directories (DESIGN §5): the contract between run, import, compare, report and service.

    <out>/<run_id>/manifest.json      RunManifest: what ran, where, with which config, its status
    <out>/<run_id>/requests.parquet   one row per request (profiler.results.run.REQUEST_TABLE)
    <out>/<run_id>/summary.json       RunSummary (vLLM's keys) or SuiteSummary
    <out>/<run_id>/<name>.parquet     further tables: telemetry, server_metrics, results (suites)

A run directory is always in exactly one state: ``running`` (its process, recorded by pid and
host, is alive), ``complete``, ``incomplete`` + reason, or ``failed`` + reason (nothing could
be measured). The manifest is written first as ``running`` and rewritten last; a ``running``
directory whose process is gone is read back as ``incomplete`` (:func:`read_run`). Every write
is atomic (profiler.results.files).
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from loadgen.metrics import REQUEST_COLUMNS
from profiler import __version__
from profiler.errors import UserError
from profiler.results.comparison import Comparison
from profiler.results.files import SCHEMA_VERSION, CorruptFile, read_json_file, write_atomic, write_json
from profiler.results.index import INDEX_FILES
from profiler.results.run import (
    STATUS_COMPLETE,
    STATUS_FAILED,
    STATUS_INCOMPLETE,
    STATUS_RUNNING,
    RunManifest,
    RunSummary,
    SuiteSummary,
)

MANIFEST = RunManifest.FILE
SUMMARY = RunSummary.FILE
REQUESTS = "requests.parquet"
COMPARISON = Comparison.FILE
PROFILE = INDEX_FILES["profile"]

__all__ = [
    "COMPARISON", "MANIFEST", "PROFILE", "REQUESTS", "SCHEMA_VERSION", "STATUS_COMPLETE", "STATUS_FAILED",
    "STATUS_INCOMPLETE", "STATUS_RUNNING", "SUMMARY", "CorruptFile", "Run", "RunWriter", "is_comparison_dir",
    "is_run_dir", "list_runs", "new_run_id", "read_json", "read_run", "utc_now", "write_json", "write_run",
]  # fmt: skip


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


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


def read_json(path: Path) -> Any:
    """Parsed JSON of a file; one-line :class:`CorruptFile` when missing or malformed."""
    return read_json_file(path)


def write_table(path: Path, frame: pd.DataFrame) -> None:
    import io

    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    write_atomic(path, buf.getvalue())


def process_alive(pid: int | None, host: str | None) -> bool | None:
    """Whether the process that wrote a ``running`` file still runs; None when unknowable
    (another host, or no pid recorded)."""
    if pid is None or host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Run:
    """A run directory read back."""

    path: Path
    manifest: RunManifest
    summary: RunSummary | SuiteSummary | None
    _tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    @property
    def label(self) -> str:
        return self.manifest.label

    @property
    def complete(self) -> bool:
        return self.manifest.complete

    @property
    def llm(self) -> RunSummary:
        """The LLM summary (an empty one when the run has none yet)."""
        return self.summary if isinstance(self.summary, RunSummary) else RunSummary()

    def table(self, name: str) -> pd.DataFrame | None:
        """``requests``, ``telemetry``, ``server_metrics``, ``results``… or None if absent."""
        if name not in self._tables:
            path = self.path / f"{name}.parquet"
            if not path.exists():
                return None
            try:
                self._tables[name] = pd.read_parquet(path)
            except Exception as exc:  # pyarrow raises several types for a damaged file
                why = f"{type(exc).__name__}: {exc}"
                raise CorruptFile(f"{path}: not a readable parquet table ({why})") from None
        return self._tables[name]

    @property
    def requests(self) -> pd.DataFrame:
        frame = self.table("requests")
        if frame is None:
            raise FileNotFoundError(f"{self.path} has no {REQUESTS}")
        missing = [c for c in REQUEST_COLUMNS if c not in frame.columns]
        if missing:
            raise CorruptFile(f"{self.path / REQUESTS}: lacks columns {', '.join(missing)}")
        return frame


class RunWriter:
    """Creates a run directory and keeps its manifest true while the run goes on.

    Use ``start()`` before measuring (the manifest says ``running``, with this process's pid and
    host), then ``finish()`` with whatever was measured; ``finish(status="incomplete",
    reason=...)`` on error or Ctrl-C. Manifest fields are validated (a typo is an error).
    """

    def __init__(self, out: Path, manifest: Mapping[str, Any], run_id: str | None = None) -> None:
        label = str(manifest.get("label", "run"))
        self.run_id = run_id or new_run_id(label, manifest.get("model"))
        self.path = Path(out) / self.run_id
        self.manifest = RunManifest.model_validate(
            {"tool_version": __version__, **manifest, "run_id": self.run_id}
        )

    def start(self) -> Path:
        self.path.mkdir(parents=True, exist_ok=False)
        self.manifest = self.manifest.model_copy(
            update={
                "started": self.manifest.started or utc_now(),
                "status": STATUS_RUNNING,
                "pid": os.getpid(),
                "host": socket.gethostname(),
            }
        )
        self.manifest.save(self.path / MANIFEST)
        return self.path

    def finish(
        self,
        *,
        requests: pd.DataFrame | None = None,
        summary: Mapping[str, Any] | RunSummary | SuiteSummary | None = None,
        tables: Mapping[str, pd.DataFrame] | None = None,
        status: str = STATUS_COMPLETE,
        reason: str | None = None,
        **manifest_updates: Any,
    ) -> Path:
        if not self.path.exists():
            self.start()
        try:
            self._write(requests, summary, tables)
        except OSError as exc:  # disk full, file too large, read-only: say so, keep what fit
            why = f"cannot save the run: {exc.strerror or exc}"
            status, reason = STATUS_INCOMPLETE, "; ".join(x for x in (why, reason) if x)
            self._save_manifest(status, reason, manifest_updates)
            raise UserError(f"{self.path}: {why} (what was written is kept, marked incomplete)") from None
        return self._save_manifest(status, reason, manifest_updates)

    def _write(
        self,
        requests: pd.DataFrame | None,
        summary: Mapping[str, Any] | RunSummary | SuiteSummary | None,
        tables: Mapping[str, pd.DataFrame] | None,
    ) -> None:
        if requests is not None:
            missing = [c for c in REQUEST_COLUMNS if c not in requests.columns]
            if missing:
                raise ValueError(f"requests table lacks columns {missing}")
            write_table(self.path / REQUESTS, requests)
        for name, frame in (tables or {}).items():
            if frame is not None:
                write_table(self.path / f"{name}.parquet", frame)
        if summary is not None:
            model = summary_model(self.manifest.kind)
            parsed = summary if isinstance(summary, model) else model.model_validate(dict(summary))
            parsed.save(self.path / SUMMARY)

    def _save_manifest(self, status: str, reason: str | None, updates: Mapping[str, Any]) -> Path:
        update = {**updates, "status": status, "finished": utc_now(), "pid": None}
        if reason:
            update["reason"] = reason
        self.manifest = RunManifest.model_validate({**self.manifest.model_dump(), **update})
        try:
            self.manifest.save(self.path / MANIFEST)
        except OSError as exc:
            raise UserError(
                f"{self.path}: cannot save the manifest ({exc.strerror or exc}); the run's files "
                "may be incomplete"
            ) from None
        return self.path


def summary_model(kind: str) -> type[RunSummary] | type[SuiteSummary]:
    return RunSummary if kind == "llm" else SuiteSummary


def write_run(
    out: Path,
    manifest: Mapping[str, Any],
    *,
    requests: pd.DataFrame | None = None,
    summary: Mapping[str, Any] | RunSummary | SuiteSummary | None = None,
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
    """A run directory as models; a stale ``running`` (its process died) reads as incomplete."""
    path = Path(path)
    if not is_run_dir(path):
        raise FileNotFoundError(f"{path} is not a run directory (no {MANIFEST})")
    manifest = RunManifest.load(path / MANIFEST)
    if manifest.status == STATUS_RUNNING and process_alive(manifest.pid, manifest.host) is False:
        manifest = manifest.model_copy(
            update={
                "status": STATUS_INCOMPLETE,
                "reason": f"the process that was writing it (pid {manifest.pid}) is gone; "
                "the run stopped before it could save",
            }
        )
    summary = summary_model(manifest.kind).load(path / SUMMARY) if (path / SUMMARY).exists() else None
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
