"""Reading what profiles left on disk: progress, headline overheads, run directories, files.

The service never trusts a client-supplied path: ids are checked against a strict pattern and
looked up by name among the directories that exist, and file names are resolved and required
to stay inside the directory they were asked from.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from profiler.store import COMPARISON, MANIFEST, PROFILE, SUMMARY, is_run_dir, read_json

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]{0,199}$")

# (comparison metric, short label) shown as the headline of a profile
HEADLINE: tuple[tuple[str, str], ...] = (
    ("mean_ttft_ms", "TTFT"),
    ("mean_tpot_ms", "TPOT"),
    ("mean_itl_ms", "ITL"),
    ("mean_e2el_ms", "E2EL"),
    ("output_throughput", "tok/s"),
    ("request_throughput", "req/s"),
)

# what each run measured, shown per run in GET /api/profiles/{id} (the rest: summary.json)
RUN_SUMMARY = (
    "completed", "failed", "duration", "mean_ttft_ms", "mean_tpot_ms", "mean_itl_ms",
    "mean_e2el_ms", "output_throughput", "request_throughput",
)  # fmt: skip


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None  # absent, or being rewritten right now


def run_progress(profile_dir: Path) -> dict[str, Any]:
    """How far a profile got, from the run directories it has written so far."""
    runs_dir = profile_dir / "runs"
    started = done = 0
    current = None
    if runs_dir.is_dir():
        for run in sorted(p for p in runs_dir.iterdir() if is_run_dir(p)):
            started += 1
            manifest = _read(run / MANIFEST) or {}
            if manifest.get("status") == "running":
                current = run.name
            else:
                done += 1
    out: dict[str, Any] = {"runs_started": started, "runs_finished": done, "current_run": current}
    profile = _read(profile_dir / PROFILE)
    if profile is not None:
        out["profile_status"] = profile.get("status")
    return out


def expected_runs(n_rates: int, repeats: int, legs: int = 2) -> int:
    return n_rates * repeats * legs


def headline(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """The few overheads a person looks at first, with their 95% CIs."""
    by_name = {m.get("metric"): m for m in comparison.get("metrics", []) if isinstance(m, dict)}
    out = []
    for metric, label in HEADLINE:
        m = by_name.get(metric)
        if m is None:
            continue
        out.append(
            {
                "metric": metric,
                "label": label,
                "unit": m.get("unit"),
                "on": m.get("on"),
                "off": m.get("off"),
                "overhead_pct": m.get("overhead_pct"),
                "ci_low": m.get("ci_low"),
                "ci_high": m.get("ci_high"),
                "significant": m.get("significant"),
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
        path = self.root / profile_id
        return path if path.is_dir() else None

    def profile(self, profile_id: str) -> dict[str, Any] | None:
        path = self.profile_dir(profile_id)
        return _read(path / PROFILE) if path else None

    def load_points(self, profile_id: str) -> list[dict[str, Any]]:
        """Per load point: its name, the run ids per leg, and its headline overheads."""
        path = self.profile_dir(profile_id)
        profile = self.profile(profile_id)
        if path is None or profile is None:
            return []
        out = []
        for point in profile.get("load_points") or []:
            if not isinstance(point, dict):
                continue
            entry: dict[str, Any] = {
                "name": point.get("name"),
                "request_rate": point.get("request_rate"),
                "concurrency": point.get("concurrency"),
                "runs": {
                    leg: [Path(str(r)).name for r in rels]
                    for leg, rels in (point.get("runs") or {}).items()
                    if isinstance(rels, list)
                },
                "headline": [],
                "warnings": [],
            }
            rel = point.get("comparison")
            entry["comparison"] = str(rel) if rel else None
            comparison = _read(self._inside(path, str(rel)) / COMPARISON) if rel else None
            if comparison:
                entry["headline"] = headline(comparison)
                entry["aa"] = comparison.get("aa")
                entry["warnings"] = [
                    w.get("code") for w in comparison.get("warnings") or [] if isinstance(w, dict)
                ]
            out.append(entry)
        return out

    def runs(self, profile_id: str) -> list[dict[str, Any]]:
        """Every run directory on disk, also those profile.json does not list yet (a run in
        progress, or one an interrupted profile saved as incomplete)."""
        path = self.profile_dir(profile_id)
        runs_dir = path / "runs" if path else None
        if runs_dir is None or not runs_dir.is_dir():
            return []
        out = []
        for run in sorted(p for p in runs_dir.iterdir() if is_run_dir(p)):
            manifest = _read(run / MANIFEST) or {}
            summary = _read(run / SUMMARY) or {}
            out.append(
                {
                    "id": run.name,
                    "label": manifest.get("label"),
                    "status": manifest.get("status"),
                    "reason": manifest.get("reason"),
                    "summary": {k: summary[k] for k in RUN_SUMMARY if k in summary},
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
            if is_run_dir(candidate):
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
