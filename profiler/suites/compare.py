"""Compare suite runs (on vs off) with 95% CIs over repetitions.

A suite run holds one value per (metric, case) per repetition in ``results.parquet``; every
repetition of every run given for a leg is one sample. For each (metric, case) present in both
legs the overhead of DESIGN §4 compares the legs' means — latency-like (on − off)/off,
throughput-like (off − on)/off, positive = the TEE costs — and its CI is the run-level interval
of :mod:`profiler.analysis.stats` (Welch t on the logs of the repetitions; the legs are
independent: a TEE host and a bare-metal host never ran "the same" repetition). With fewer than
two repetitions in a leg there is no interval (null) and ``significant`` is null too.

The output rows have comparison.json's metric shape, plus ``suite``, ``name`` and ``case``, so
``tee-llm-prof compare`` and the reports handle suite comparisons like LLM ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from profiler import __version__
from profiler.analysis import stats
from profiler.analysis.nodes import suite_node_rows
from profiler.errors import UserError
from profiler.results.comparison import Comparison, Method, MetricRow, Warn
from profiler.store import COMPARISON, Run, is_run_dir, list_runs, read_run, utc_now
from profiler.suites.base import RESULTS_TABLE

MIN_REPEATS_FOR_CI = 2
FEW_REPEATS = 5


def is_suite_run(run: Run) -> bool:
    """A run written by a suite other than the LLM profile (it has a results table)."""
    return run.manifest.kind != "llm" and (run.path / f"{RESULTS_TABLE}.parquet").exists()


def overhead_row(on: np.ndarray, off: np.ndarray, direction: str) -> dict[str, Any]:
    """on/off means, overhead %, its 95% CI and significance for one (metric, case).

    The repetition is the unit, as for LLM profiles with repeats: the run-level interval of the
    statistics home (Welch t on log values), which knows how little 3–5 repetitions say.
    """
    on, off = on[np.isfinite(on)], off[np.isfinite(off)]
    m_on = float(on.mean()) if on.size else math.nan
    m_off = float(off.mean()) if off.size else math.nan
    point = float(stats.overhead(m_on, m_off, direction))
    ci = None
    if on.size >= MIN_REPEATS_FOR_CI and off.size >= MIN_REPEATS_FOR_CI:
        ci = stats.welch_log_ci(on, off, m_on, m_off, direction, stats.CONFIDENCE)
    return {
        "on": m_on,
        "off": m_off,
        "overhead_pct": point,
        "ci_low": ci[0] if ci else None,
        "ci_high": ci[1] if ci else None,
        "significant": stats.significant(ci),
        "n_on": int(on.size),
        "n_off": int(off.size),
    }


def _results(runs: Sequence[Run]) -> pd.DataFrame:
    frames = []
    for i, run in enumerate(runs):
        frame = run.table(RESULTS_TABLE)
        if frame is None:
            raise UserError(f"{run.path} has no {RESULTS_TABLE}.parquet (not a suite run)")
        frames.append(frame.assign(run=i))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def compare_suite_runs(on: Sequence[Run], off: Sequence[Run]) -> list[dict[str, Any]]:
    """Metric rows in comparison.json's shape for every (metric, case) both legs measured."""
    if not on or not off:
        raise UserError("compare needs at least one run per leg")
    kinds = {r.manifest.kind for r in [*on, *off]}
    if len(kinds) != 1:
        raise UserError(f"cannot compare runs of different suites: {sorted(kinds)}")
    suite = kinds.pop()
    f_on, f_off = _results(on), _results(off)
    rows: list[dict[str, Any]] = []
    if f_on.empty or f_off.empty:
        return rows
    off_groups = {k: g for k, g in f_off.groupby(["metric", "case"], sort=False)}
    for (metric, case), g_on in f_on.groupby(["metric", "case"], sort=False):
        g_off = off_groups.get((metric, case))
        if g_off is None:
            continue
        direction = str(g_on["direction"].iloc[0])
        stats = overhead_row(
            g_on["value"].to_numpy(dtype=float), g_off["value"].to_numpy(dtype=float),
            direction,
        )
        rows.append(
            {
                "metric": f"{metric} [{case}]" if case else str(metric),
                "family": str(metric),
                "stat": "mean",
                "direction": direction,
                "unit": str(g_on["unit"].iloc[0]),
                **stats,
                "suite": suite,
                "name": str(metric),
                "case": str(case),
            }
        )
    return rows


def expand_runs(paths: Sequence[Path]) -> list[Run]:
    """Run directories, or folders whose run directories are all repetitions of one leg."""
    runs: list[Run] = []
    for p in paths:
        p = Path(p)
        found = [p] if is_run_dir(p) else list_runs(p)
        if not found:
            raise UserError(f"{p} is neither a run directory nor a folder of runs")
        runs.extend(read_run(f) for f in found)
    return runs


def has_suite_runs(paths: Sequence[Path]) -> bool:
    """True when any run under ``paths`` was written by a suite (not the LLM profile)."""
    for p in paths:
        p = Path(p)
        for found in [p] if is_run_dir(p) else list_runs(p):
            if is_suite_run(read_run(found)):
                return True
    return False


def _warnings(rows: list[dict[str, Any]], on: Sequence[Run], off: Sequence[Run]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for leg, runs in (("on", on), ("off", off)):
        for r in runs:
            if not r.complete:
                why = f"{r.run_id} is {r.manifest.status}: {r.manifest.reason}"
                out.append({"code": "incomplete_run", "leg": leg, "message": why})
    n_min = min((min(r["n_on"], r["n_off"]) for r in rows), default=0)
    if rows and n_min < MIN_REPEATS_FOR_CI:
        out.append({"code": "no_ci", "leg": None, "message": "a leg has a single repetition: no "
                    "confidence interval; run with --repeats 3 or more per leg"})
    elif rows and n_min < FEW_REPEATS:
        out.append({"code": "few_repeats", "leg": None, "message": f"only {n_min} repetitions in "
                    "a leg: t-intervals over so few repetitions are wide; 5+ is better"})
    return out


def compare_suite_dirs(
    on: Sequence[Path] | Path,
    off: Sequence[Path] | Path,
    out: Path,
    *,
    aa: bool = False,
    **_: Any,
) -> Comparison:
    """Compare suite runs and write ``<out>/comparison.json``; returns it."""
    on_runs = expand_runs([on] if isinstance(on, (str, Path)) else list(on))
    off_runs = expand_runs([off] if isinstance(off, (str, Path)) else list(off))
    if not all(is_suite_run(r) for r in [*on_runs, *off_runs]):
        raise UserError("every run given must be a suite run (manifest kind other than 'llm')")
    rows = compare_suite_runs(on_runs, off_runs)
    metric_rows = [MetricRow(**r) for r in rows]
    frames = {"on": _results(on_runs), "off": _results(off_runs)}
    result = Comparison(
        subject=on_runs[0].manifest.kind,
        tool_version=__version__,
        model=None,
        aa=aa,
        created=utc_now(),
        on_runs=[str(r.path) for r in on_runs],
        off_runs=[str(r.path) for r in off_runs],
        method=Method(bootstrap="repetitions", n_boot=None, confidence=stats.CONFIDENCE, seed=None,
                      interval="Welch t on log per-repetition values"),
        metrics=metric_rows,
        warnings=[Warn(**w) for w in _warnings(rows, on_runs, off_runs)],
        nodes=suite_node_rows(on_runs, off_runs, frames, metric_rows),
        environment={"on": on_runs[0].manifest.environment, "off": off_runs[0].manifest.environment},
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result.save(out / COMPARISON)
    return result
