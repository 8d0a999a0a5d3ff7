"""Precision and power of a comparison: the smallest detectable overhead, and the blocks (and
minutes) a requested precision needs (DESIGN §4 "precision is a target, not an accident").

Paired blocks: from the spread s of the per-block log ratios. With n blocks the CI half-width is
t_{n−1}·s/√n; the minimum detectable overhead at 95% confidence and 80% power is
(t_{0.975} + t_{0.80})·s/√n; the blocks for a half-width of P points are the smallest n with
t_{n−1}·s/√n ≤ log(1 + P/100). A two-stage (target-precision) profile uses the pilot's s and
t on pilot − 1 degrees of freedom, as its interval does. Minutes = blocks × the measured wall
time of one block.

Repetitions without blocks: the same from the unpaired run-level spread, per leg.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from catalog.metrics import Metric
from profiler.analysis import stats
from profiler.analysis.blocks import Blocks
from profiler.analysis.legs import LegData
from profiler.results.comparison import Power, PowerRow, PrecisionNeed

#: Precisions always priced, in overhead points (plus the one the user asked for).
TARGETS = (1.0, 2.0, 5.0)
POWER = 0.80


def _seconds(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def block_seconds(on: LegData, off: LegData, blocks: Blocks) -> float | None:
    """Median wall time of one block: first start to last finish of its runs."""
    spans = []
    for i, j in zip(blocks.on, blocks.off, strict=True):
        m_on, m_off = on.runs[i].manifest, off.runs[j].manifest
        starts = [s for s in (m_on.started, m_off.started) if s]
        ends = [e for e in (m_on.finished, m_off.finished) if e]
        if starts and ends:
            span = _seconds(min(starts), max(ends))
            if span is not None and span > 0:
                spans.append(span)
    return float(np.median(spans)) if spans else None


def _needs(
    s: float, pilot: int | None, seconds: float | None, targets: Sequence[float]
) -> list[PrecisionNeed]:
    out = []
    for t in targets:
        n = stats.stein_blocks(s, pilot, t) if pilot else stats.blocks_for(s, t)
        out.append(
            PrecisionNeed(
                target_pct=t, blocks=n, minutes=None if n is None or seconds is None else n * seconds / 60.0
            )
        )
    return out


def block_power(
    ratios: dict[str, tuple[Metric, str, np.ndarray]],
    seconds: float | None,
    *,
    pilot: int | None = None,
    targets: Sequence[float] = TARGETS,
    confidence: float = stats.CONFIDENCE,
) -> Power:
    rows = []
    for key, (_, _, d) in ratios.items():
        d = d[np.isfinite(d)]
        s, df = stats.log_sd(d, pilot)
        if s is None:
            rows.append(
                PowerRow(metric=key, blocks=int(d.size), sd_log=None, half_width_pct=None, mde_pct=None)
            )
            continue
        rows.append(PowerRow(
            metric=key, blocks=int(d.size), sd_log=s,
            half_width_pct=stats.half_width_pct(s, int(d.size), df, confidence),
            mde_pct=stats.mde_pct(s, int(d.size), df, confidence, POWER),
            needed=_needs(s, pilot, seconds, targets),
        ))  # fmt: skip
    note = (
        f"two-stage: spread from the first {pilot} blocks, t on {pilot - 1} degrees of freedom"
        if pilot
        else "spread of the per-block log ratios, t on blocks − 1 degrees of freedom"
    )
    return Power(
        design="blocks", confidence=confidence, power=POWER, block_seconds=seconds, rows=rows, note=note
    )


def run_power(
    per_run: dict[str, tuple[np.ndarray, np.ndarray]],
    seconds: float | None,
    *,
    targets: Sequence[float] = TARGETS,
    confidence: float = stats.CONFIDENCE,
) -> Power:
    """Unpaired repetitions: from each leg's run-to-run spread of log values (Welch)."""
    rows = []
    for key, (a, b) in per_run.items():
        la = np.log(a[np.isfinite(a) & (a > 0)])
        lb = np.log(b[np.isfinite(b) & (b > 0)])
        n = int(min(la.size, lb.size))
        if la.size < 2 or lb.size < 2:
            rows.append(PowerRow(metric=key, blocks=n, sd_log=None, half_width_pct=None, mde_pct=None))
            continue
        # the spread of one difference of two runs, as if paired: s² = var_on + var_off
        s = math.sqrt(float(la.var(ddof=1) + lb.var(ddof=1)))
        df = la.size + lb.size - 2
        rows.append(PowerRow(
            metric=key, blocks=n, sd_log=s, half_width_pct=stats.half_width_pct(s, n, df, confidence),
            mde_pct=stats.mde_pct(s, n, df, confidence, POWER), needed=_needs(s, None, seconds, targets),
        ))  # fmt: skip
    return Power(
        design="repetitions",
        confidence=confidence,
        power=POWER,
        block_seconds=seconds,
        rows=rows,
        note="unpaired runs: the spread of a difference of two runs, var(log on) + var(log off); "
        "blocks = runs per leg",
    )
