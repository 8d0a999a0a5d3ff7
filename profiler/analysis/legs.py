"""One leg of a comparison (all runs of TEE on, or of TEE off) as flat numpy arrays.

Requests of every run are concatenated (warm-up rows dropped); ``groups`` holds each run's row
indices so repetitions can be resampled run-first. Throughput is measured over *windows*:

- with send/arrival timestamps, each run's span [first send, last end] is cut into equal time
  windows; every output token is attributed to the window its content event arrived in, every
  completion to the window it ended in. Σ tokens / Σ window lengths = Σ tokens / duration exactly,
  so the point estimate is DESIGN §3's TPS, and resampling windows gives a batch-means CI;
- without timestamps (v0.5.x imports) each run is one window: the CI then comes from
  repetitions only, and a single run per leg has a point estimate but no CI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loadgen.metrics import NS_PER_S, measured, meets_slos
from profiler.errors import UserError
from profiler.store import Run, list_runs, read_run

DEFAULT_WINDOWS = 10


@dataclass
class Leg:
    label: str
    runs: list[Run]
    frame: pd.DataFrame
    groups: list[np.ndarray]
    # per request (NaN where failed / undefined)
    ttft: np.ndarray
    tpot: np.ndarray
    e2el: np.ndarray
    itl_sum: np.ndarray
    itl_count: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    ok: np.ndarray
    itl_pooled: np.ndarray  # exact pooled gaps (point estimates)
    itl_owner: np.ndarray  # request index of each pooled gap
    # throughput windows
    win_tokens: np.ndarray = field(default_factory=lambda: np.empty(0))
    win_done: np.ndarray = field(default_factory=lambda: np.empty(0))
    win_good: np.ndarray = field(default_factory=lambda: np.empty(0))
    win_seconds: np.ndarray = field(default_factory=lambda: np.empty(0))
    win_groups: list[np.ndarray] = field(default_factory=list)
    time_windows: bool = False

    @property
    def n(self) -> int:
        return len(self.ok)

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
    windows: int = DEFAULT_WINDOWS,
) -> Leg:
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
    ok = frame["ok"].fillna(False).astype(bool).to_numpy()

    def col(name: str) -> np.ndarray:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
        return np.where(ok, values, np.nan)

    itls = [
        np.asarray(v if v is not None else [], dtype=float) if k else np.empty(0)
        for v, k in zip(frame["itl_ms"], ok, strict=True)
    ]
    counts = np.array([len(v) for v in itls], dtype=float)
    leg = Leg(
        label=label,
        runs=runs,
        frame=frame,
        groups=groups,
        ttft=col("ttft_ms"),
        tpot=col("tpot_ms"),
        e2el=col("e2el_ms"),
        itl_sum=np.array([v.sum() for v in itls]),
        itl_count=counts,
        input_tokens=col("input_tokens"),
        output_tokens=col("output_tokens"),
        ok=ok,
        itl_pooled=np.concatenate(itls) if itls else np.empty(0),
        itl_owner=np.repeat(np.arange(len(itls)), counts.astype(int)),
    )
    _windows(leg, slos or {}, windows)
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


def _windows(leg: Leg, slos: Mapping[str, float], k: int) -> None:
    good_mask = meets_slos(leg.frame, slos).to_numpy() if slos else leg.ok
    tokens, done, good, seconds, wgroups = [], [], [], [], []
    offset = 0
    timed = all(_has_times(leg.frame.iloc[g]) for g in leg.groups)
    for r, g in enumerate(leg.groups):
        f = leg.frame.iloc[g]
        ok = leg.ok[g]
        if timed:
            t, d, gd, s = _time_windows(f, ok, good_mask[g], k)
        else:
            dur = _duration(leg.runs[r])
            t = np.array([np.nansum(leg.output_tokens[g])])
            d, gd = np.array([ok.sum()], dtype=float), np.array([good_mask[g].sum()], dtype=float)
            s = np.array([dur])
        wgroups.append(np.arange(offset, offset + len(s)))
        offset += len(s)
        tokens.append(t)
        done.append(d)
        good.append(gd)
        seconds.append(s)
    leg.win_tokens = np.concatenate(tokens)
    leg.win_done = np.concatenate(done)
    leg.win_good = np.concatenate(good)
    leg.win_seconds = np.concatenate(seconds)
    leg.win_groups = wgroups
    leg.time_windows = timed


def _has_times(f: pd.DataFrame) -> bool:
    sent, first = _ts(f, "sent_ns"), _ts(f, "first_ns")
    return (
        sent is not None
        and first is not None
        and bool(np.isfinite(sent).any())
        and bool(np.isfinite(first).any())
    )


def _duration(run: Run) -> float:
    dur = run.summary.get("duration")
    if not isinstance(dur, (int, float)) or not dur > 0:
        raise UserError(f"{run.path}: no duration in summary.json and no timestamps to derive one")
    return float(dur)


def _time_windows(
    f: pd.DataFrame, ok: np.ndarray, good: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    sent = _ts(f, "sent_ns")
    first = _ts(f, "first_ns")
    last = _ts(f, "last_ns")
    end = _ts(f, "end_ns")
    assert sent is not None and first is not None and last is not None
    end = np.where(np.isfinite(end), end, last) if end is not None else last
    t0 = np.nanmin(sent)
    t1 = np.nanmax(np.where(np.isfinite(end), end, np.nan)) if np.isfinite(end).any() else np.nan
    if not np.isfinite(t1) or t1 <= t0:
        return np.zeros(1), np.zeros(1), np.zeros(1), np.array([np.nan])
    edges = np.linspace(t0, t1, k + 1)
    tokens = np.zeros(k)
    n_out = pd.to_numeric(f["output_tokens"], errors="coerce").fillna(0).to_numpy(float)
    for fi, v, n, good_i in zip(first, f["itl_ms"], n_out, ok, strict=True):
        if not good_i or not np.isfinite(fi):
            continue
        gaps = np.asarray(v if v is not None else [], dtype=float) * 1e6
        times = fi + np.concatenate(([0.0], np.cumsum(gaps)))
        # Tokens are spread evenly over the request's content events (an event may carry several).
        idx = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, k - 1)
        np.add.at(tokens, idx, n / len(times))
    ends = end[ok & np.isfinite(end)]
    done = np.bincount(np.clip(np.searchsorted(edges, ends, side="right") - 1, 0, k - 1), minlength=k)
    gends = end[good & ok & np.isfinite(end)]
    gdone = np.bincount(np.clip(np.searchsorted(edges, gends, side="right") - 1, 0, k - 1), minlength=k)
    return tokens, done.astype(float), gdone.astype(float), np.full(k, (t1 - t0) / NS_PER_S / k)


def run_info(leg: Leg) -> list[dict[str, Any]]:
    return [{"path": str(r.path), "run_id": r.run_id, "status": r.manifest.get("status")} for r in leg.runs]
