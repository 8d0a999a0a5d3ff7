"""Stop at a target precision: add blocks until the headline CIs are ±PCT points wide, or the
budget is spent (``profile --target-ci PCT --budget SECONDS``).

The rule is two-stage (Stein): the first ``pilot`` blocks measure the spread s of each headline
metric's per-block log ratio; the blocks needed are then N = max over metrics of
⌈(t_{pilot−1}·s/log(1 + PCT/100))²⌉, and the profile runs until N blocks or the budget. The
comparison's interval uses that pilot spread with t on pilot − 1 degrees of freedom, so its
coverage holds exactly for normal log ratios however N came out (the number of blocks depends
on the pilot's spread, which is independent of the mean); ``tests/test_analysis_blocks.py``
checks it by simulation on drifting data. A half-width is 100·(e^h − 1) for a log half-width
h: relative to the measured ratio, the same as overhead points to within a few % at the
overheads a TEE costs.

Per-block values come from each run's summary.json (the same definitions the comparison uses),
so checking after every block costs nothing measurable.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console

from profiler.analysis import stats
from profiler.experiment.engine import Point
from profiler.results.index import PrecisionEntry
from profiler.store import read_run

#: What --target-ci aims at unless --target-metrics names others: TTFT, decode time, output rate.
HEADLINE_METRICS = ("mean_ttft_ms", "mean_tpot_ms", "steady_output_throughput")
DEFAULT_PILOT = 8
DEFAULT_MAX_BLOCKS = 200
BAR = 20


@dataclass
class TargetPrecision:
    target_pct: float
    metrics: Sequence[str] = HEADLINE_METRICS
    pilot: int = DEFAULT_PILOT
    budget_s: float | None = None  # measurement seconds per load point
    max_blocks: int = DEFAULT_MAX_BLOCKS
    pairs: Sequence[tuple[str, str]] = (("on", "off"),)  # (leg, its baseline) the target applies to
    console: Console = field(default_factory=lambda: Console(stderr=True))
    entries: dict[str, PrecisionEntry] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.target_pct > 0:
            raise ValueError("the target CI half-width must be > 0 points")
        if self.pilot < 2:
            raise ValueError("the pilot needs at least 2 blocks")

    def enough(self, point: Point, block: int, runs: dict[str, list[Path]]) -> bool:
        """After block ``block`` (from 0): True when this point needs no more blocks."""
        start = self._started.setdefault(point.name, time.monotonic())
        n = block + 1
        entry = self.entries.setdefault(point.name, PrecisionEntry(
            target_pct=self.target_pct, metrics=list(self.metrics), pilot_blocks=self.pilot,
            budget_s=self.budget_s,
        ))  # fmt: skip
        entry.blocks_run = n
        widths = self._half_widths(runs, n)
        entry.half_widths = {k: (None if math.isnan(v) else v) for k, v in widths.items()}
        if n == self.pilot:
            entry.blocks_needed = max((self._needed(runs, k) for k in widths), default=self.pilot)
        elapsed = time.monotonic() - start
        reason = None
        if n >= self.pilot and entry.blocks_needed is not None and n >= entry.blocks_needed:
            reason = "target"
        elif self.budget_s is not None and elapsed >= self.budget_s:
            reason = "budget"
        elif n >= self.max_blocks:
            reason = "max-blocks"
        entry.stopped_by = reason
        entry.reached = bool(widths) and all(
            v <= self.target_pct for v in widths.values() if not math.isnan(v)
        )
        self._say(point.name, n, entry, elapsed)
        return reason is not None

    # ------------------------------------------------------------------ per-block values
    def _ratios(self, runs: dict[str, list[Path]], key: str) -> list[np.ndarray]:
        out = []
        for leg, base in self.pairs:
            a = [read_run(p).llm.value(key) for p in runs.get(leg, [])]
            b = [read_run(p).llm.value(key) for p in runs.get(base, [])]
            d = [
                math.log(x / y) if x and y and x > 0 and y > 0 else math.nan
                for x, y in zip(a, b, strict=False)
            ]
            out.append(np.asarray(d, dtype=float))
        return out

    def _half_widths(self, runs: dict[str, list[Path]], n: int) -> dict[str, float]:
        """Each metric's current half-width (the widest over the leg pairs), in points."""
        widths: dict[str, float] = {}
        for key in self.metrics:
            worst = math.nan
            for d in self._ratios(runs, key):
                pilot = self.pilot if n >= self.pilot else None
                s, df = stats.log_sd(d, pilot)
                finite = int(np.isfinite(d).sum())
                if s is not None and finite >= 2:
                    w = stats.half_width_pct(s, finite, df)
                    worst = w if math.isnan(worst) else max(worst, w)
            widths[key] = worst
        return widths

    def _needed(self, runs: dict[str, list[Path]], key: str) -> int:
        need = self.pilot
        for d in self._ratios(runs, key):
            s, _ = stats.log_sd(d, self.pilot)
            if s is not None:
                need = max(need, stats.stein_blocks(s, self.pilot, self.target_pct))
        return min(need, self.max_blocks)

    def _say(self, point: str, n: int, entry: PrecisionEntry, elapsed: float) -> None:
        total = entry.blocks_needed or self.pilot
        done = min(BAR, round(BAR * n / max(total, 1)))
        widths = ", ".join(
            f"{k} ±{v:.2f}" if v is not None else f"{k} ±?" for k, v in entry.half_widths.items()
        )
        plan = f"{n}/{total}" + ("" if entry.blocks_needed else " (pilot)")
        budget = f", {elapsed:.0f}/{self.budget_s:.0f} s" if self.budget_s else ""
        self.console.print(
            f"  precision {point} [{'█' * done}{'·' * (BAR - done)}] blocks {plan}{budget}: "
            f"{widths} (target ±{self.target_pct:g})",
            highlight=False,
            soft_wrap=True,
        )
