"""Reading what profiles left on disk: progress, headline overheads, run directories, files.

The service never trusts a client-supplied path: ids are checked against a strict pattern and
looked up by name among the directories that exist, and file names are resolved and required
to stay inside the directory they were asked from.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

from catalog.metrics import METRICS, RUN_STAT
from profiler.results.comparison import Comparison
from profiler.results.files import ResultFile
from profiler.results.index import ProfileIndex
from profiler.results.run import RunManifest
from profiler.store import COMPARISON, PROFILE, CorruptFile, is_run_dir, process_alive, read_run

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]{0,199}$")

R = TypeVar("R", bound=ResultFile)


def headline_keys() -> list[tuple[str, str]]:
    """(metric key, short label) shown as a profile's headline: the mean of every compared
    request-level metric and the value of every run-level one, from the catalogue."""
    out = []
    for m in METRICS.values():
        if not m.compared_stats or m.needs_slos:
            continue
        out.append((m.summary_key("mean" if m.level != "run" else RUN_STAT), m.unit if m.level == "run" else
                    m.label))
    return out


def run_summary_keys() -> list[str]:
    """What each run measured, shown per run in GET /api/profiles/{id} (the rest: summary.json)."""
    return ["completed", "failed", "duration", *(k for k, _ in headline_keys())]


def _load(model: type[R], path: Path) -> R | None:
    try:
        return model.load(path)
    except CorruptFile:
        return None  # absent, or not (yet) a valid file: progress is best effort


def run_progress(profile_dir: Path) -> dict[str, Any]:
    """How far a profile got, from the run directories it has written so far."""
    runs_dir = profile_dir / "runs"
    started = done = 0
    current = None
    if runs_dir.is_dir():
        for run in sorted(p for p in runs_dir.iterdir() if is_run_dir(p)):
            started += 1
            manifest = _load(RunManifest, run / RunManifest.FILE)
            if manifest is not None and _live(manifest.status, manifest.pid, manifest.host):
                current = run.name
            else:
                done += 1
    out: dict[str, Any] = {"runs_started": started, "runs_finished": done, "current_run": current}
    profile = _load(ProfileIndex, profile_dir / PROFILE)
    if profile is not None:  # a profile whose process died (service killed) is incomplete, not running
        live = _live(profile.status, profile.pid, profile.host)
        out["profile_status"] = "incomplete" if profile.status == "running" and not live else profile.status
    return out


def _live(status: str, pid: int | None, host: str | None) -> bool:
    """``running`` and its writer may still be alive (a dead pid on this host: not running)."""
    return status == "running" and process_alive(pid, host) is not False


def expected_runs(n_rates: int, repeats: int, legs: int = 2) -> int:
    return n_rates * repeats * legs


def headline(comparison: Comparison) -> list[dict[str, Any]]:
    """The few overheads a person looks at first, with their 95% CIs."""
    out = []
    for metric, label in headline_keys():
        m = comparison.row(metric)
        if m is None:
            continue
        out.append(
            {
                "metric": metric, "label": label, "unit": m.unit, "on": m.on, "off": m.off,
                "overhead_pct": m.overhead_pct, "ci_low": m.ci_low, "ci_high": m.ci_high,
                "significant": m.significant,
            }
        )
    return out


class ResultStore:
    """The profile directories under ``<data>/profiles``."""

    def __init__(self, profiles_dir: Path) -> None:
        self.root = Path(profiles_dir)

    def profile_dir(self, profile_id: str) -> Path | None:
        if not ID_RE.match(profile_id):
            return None
        return self._contained(self.root / profile_id)

    def _contained(self, path: Path) -> Path | None:
        """``path`` when it is a directory that really lies in the data dir: a symlink (the
        directory itself or any parent) pointing out of it is refused, not followed."""
        if not path.is_dir():
            return None
        real = path.resolve()
        return path if real.is_relative_to(self.root.resolve()) else None

    def profile(self, profile_id: str) -> ProfileIndex | None:
        path = self.profile_dir(profile_id)
        return _load(ProfileIndex, path / PROFILE) if path else None

    def load_points(self, profile_id: str) -> list[dict[str, Any]]:
        """Per load point: its name, the run ids per leg, and its headline overheads."""
        path = self.profile_dir(profile_id)
        profile = self.profile(profile_id)
        if path is None or profile is None:
            return []
        out = []
        for point in profile.load_points:
            entry: dict[str, Any] = {
                "name": point.name,
                "request_rate": point.request_rate,
                "concurrency": point.concurrency,
                "runs": {leg: [Path(r).name for r in rels] for leg, rels in point.runs.items()},
                "headline": [],
                "warnings": [],
                "comparison": point.comparison,
            }
            comparison = (
                _load(Comparison, self._inside(path, point.comparison) / COMPARISON)
                if point.comparison
                else None
            )
            if comparison is not None:
                entry["headline"] = headline(comparison)
                entry["aa"] = comparison.aa
                entry["warnings"] = [w.code for w in comparison.warnings]
            out.append(entry)
        return out

    def runs(self, profile_id: str) -> list[dict[str, Any]]:
        """Every run directory on disk, also those profile.json does not list yet (a run in
        progress, or one an interrupted profile saved as incomplete)."""
        path = self.profile_dir(profile_id)
        runs_dir = path / "runs" if path else None
        if runs_dir is None or not runs_dir.is_dir():
            return []
        out: list[dict[str, Any]] = []
        keys = run_summary_keys()
        for run_dir in sorted(p for p in runs_dir.iterdir() if is_run_dir(p)):
            try:
                run = read_run(run_dir)
            except CorruptFile as exc:
                out.append(
                    {
                        "id": run_dir.name,
                        "label": None,
                        "status": "unreadable",
                        "reason": str(exc),
                        "summary": {},
                    }
                )
                continue
            s = run.llm
            out.append(
                {
                    "id": run_dir.name,
                    "label": run.label,
                    "status": run.manifest.status,
                    "reason": run.manifest.reason,
                    "summary": {k: s.get(k) for k in keys if s.get(k) is not None},
                }
            )
        return out

    def find(self, any_id: str) -> Path | None:
        """A profile directory by profile id, or a run directory by run id."""
        if not ID_RE.match(any_id):
            return None
        direct = self.profile_dir(any_id)
        if direct is not None:
            return direct
        if not self.root.is_dir():
            return None
        for profile in self.root.iterdir():
            candidate = profile / "runs" / any_id
            if is_run_dir(candidate) and self._contained(candidate) is not None:
                return candidate
        return None

    @staticmethod
    def _inside(base: Path, rel: str) -> Path:
        target = (base / rel).resolve()
        return target if target.is_relative_to(base.resolve()) else base / "__outside__"


def safe_file(base: Path, name: str) -> Path | None:
    """``base/name`` if it is a regular file inside ``base`` (no traversal, no hidden files,
    no symlink pointing out, no temporary files being written), else None."""
    parts = name.split("/")
    if not name or name.startswith("/") or "\\" in name or "\0" in name:
        return None
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts) or name.endswith(".tmp"):
        return None
    root = base.resolve()
    target = (base / name).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target


def list_files(base: Path, limit: int = 500) -> list[str]:
    root = base.resolve()
    out: list[str] = []
    for p in sorted(base.rglob("*")):
        if len(out) >= limit:
            break
        rel = p.relative_to(base).as_posix()
        if p.is_file() and safe_file(root, rel) is not None:
            out.append(rel)
    return out
