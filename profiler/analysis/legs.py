"""One leg of a comparison (all runs of TEE on, or of TEE off) as flat numpy arrays.

Requests of every run are concatenated (warm-up rows dropped); ``groups`` holds each run's row
indices so repetitions can be analysed run by run. Throughput has one value per run: Σ tokens (or
completions) over the run's duration (DESIGN §3: end of the last request − first send; imports
without timestamps use the file's own duration). Its uncertainty is run-to-run, so a throughput
CI needs repetitions: requests or time windows of one run cannot show how long *another* run
would have taken (a paired window bootstrap gave zero-width QPS intervals in an A/A test).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from catalog.metrics import METRICS, ok_mask, request_values
from loadgen.metrics import duration_s, measured
from profiler.errors import UserError
from profiler.results.comparison import RunRef
from profiler.store import Run, list_runs, read_run


@dataclass
class Pooled:
    """A pooled metric (ITL) of one leg: per-request sums and counts, and every value with the
    request it belongs to (so resampling by request keeps a request's gaps together)."""

    sums: np.ndarray
    counts: np.ndarray
    values: np.ndarray
    owner: np.ndarray


@dataclass
class LegData:
    """Every request of one leg's runs, with each catalogue metric computed once per request."""

    label: str
    runs: list[Run]
    frame: pd.DataFrame
    groups: list[np.ndarray]  # row indices of each run
    ok: np.ndarray
    input_tokens: np.ndarray  # NaN where the request failed
    output_tokens: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)  # request-level metric → per request
    pooled: dict[str, Pooled] = field(default_factory=dict)  # pooled metric → its parts
    # run-level metrics: one numerator per run, and each run's duration
    run_totals: dict[str, np.ndarray] = field(default_factory=dict)
    run_seconds: np.ndarray = field(default_factory=lambda: np.empty(0))
    #: metrics measured over a window of their own (the steady state): its seconds per run
    run_windows: dict[str, np.ndarray] = field(default_factory=dict)
    run_groups: list[np.ndarray] = field(default_factory=list)
    timestamps: bool = False

    @property
    def n(self) -> int:
        return len(self.ok)

    def request(self, name: str) -> np.ndarray:
        """Per-request values of a request-level metric (NaN where undefined)."""
        return self.values[name]

    def request_keys(self) -> list[Any] | None:
        """What identifies each request's prompt, in order (for pairing), per run."""
        return _keys(self.frame)


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Run directories named directly, or every run directory under a folder."""
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / "manifest.json").is_file():
            out.append(p)
        elif p.is_dir() and (found := list_runs(p)):
            out.extend(found)
        else:
            raise UserError(f"{p}: not a run directory and no run directories under it")
    return out


def load_leg(
    paths: Sequence[Path],
    label: str,
    *,
    slos: Mapping[str, float] | None = None,
) -> LegData:
    runs = [read_run(p) for p in expand_paths(paths)]
    frames, groups, start = [], [], 0
    for run in runs:
        try:
            f = measured(run.requests).reset_index(drop=True)
        except FileNotFoundError:
            raise UserError(f"{run.path}: run has no requests.parquet (nothing was measured)") from None
        groups.append(np.arange(start, start + len(f)))
        start += len(f)
        frames.append(f)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frame.empty:
        raise UserError(f"{label} leg has no measured requests ({', '.join(str(r.path) for r in runs)})")
    ok = ok_mask(frame)

    def col(name: str) -> np.ndarray:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
        return np.where(ok, values, np.nan)

    leg = LegData(
        label=label, runs=runs, frame=frame, groups=groups, ok=ok,
        input_tokens=col("input_tokens"), output_tokens=col("output_tokens"),
    )
    for metric in METRICS.values():
        if metric.level == "request":
            leg.values[metric.name] = request_values(metric, frame)
        elif metric.level == "pooled":
            assert metric.per_request_lists is not None
            lists = metric.per_request_lists(frame)
            counts = np.array([len(v) for v in lists], dtype=float)
            leg.pooled[metric.name] = Pooled(
                sums=np.array([float(v.sum()) for v in lists]),
                counts=counts,
                values=np.concatenate(lists) if lists else np.empty(0),
                owner=np.repeat(np.arange(len(lists)), counts.astype(int)),
            )
    _windows(leg, slos or {})
    return leg


def _keys(frame: pd.DataFrame) -> list[Any] | None:
    """prompt_hash per request, else the input-length sequence (imports carry no prompts)."""
    if "prompt_hash" in frame.columns and frame["prompt_hash"].notna().all():
        return list(frame["prompt_hash"])
    lens = pd.to_numeric(frame["input_tokens"], errors="coerce")
    return None if lens.isna().any() else [int(x) for x in lens]


def _ts(frame: pd.DataFrame, name: str) -> np.ndarray | None:
    if name not in frame.columns:
        return None
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
    return values


def _windows(leg: LegData, slos: Mapping[str, float]) -> None:
    """Per run: every run-level metric's numerator (tokens, completions…) and the seconds."""
    timed = all(_has_times(leg.frame.iloc[g]) for g in leg.groups)
    seconds = []
    for r, g in enumerate(leg.groups):
        dur = duration_s(leg.frame.iloc[g]) if timed else math.nan
        seconds.append(dur if dur == dur and dur > 0 else _duration(leg.runs[r]))
    for metric in METRICS.values():
        if metric.level != "run" or (metric.needs_slos and not slos):
            continue
        assert metric.per_run is not None
        leg.run_totals[metric.name] = np.array(
            [metric.per_run(leg.frame.iloc[g], slos) for g in leg.groups], dtype=float
        )
        if metric.per_run_seconds is not None:
            leg.run_windows[metric.name] = np.array(
                [metric.per_run_seconds(leg.frame.iloc[g]) for g in leg.groups], dtype=float
            )
    leg.run_seconds = np.array(seconds, dtype=float)
    leg.run_groups = [np.array([r]) for r in range(len(leg.groups))]
    leg.timestamps = timed


def _has_times(f: pd.DataFrame) -> bool:
    sent, first = _ts(f, "sent_ns"), _ts(f, "first_ns")
    return (
        sent is not None
        and first is not None
        and bool(np.isfinite(sent).any())
        and bool(np.isfinite(first).any())
    )


def _duration(run: Run) -> float:
    dur = run.llm.duration
    if not isinstance(dur, (int, float)) or not dur > 0:
        raise UserError(f"{run.path}: no duration in summary.json and no timestamps to derive one")
    return float(dur)


def run_info(leg: LegData) -> list[RunRef]:
    return [RunRef(path=str(r.path), run_id=r.run_id, status=r.manifest.status) for r in leg.runs]
