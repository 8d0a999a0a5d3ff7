"""Attribute a chain's total overhead to its steps (DESIGN §4 "k legs").

With legs a, b, c measured in the same blocks, log(c/a) = log(b/a) + log(c/b) block by block.
Each step gets the paired-block interval of its own per-block log ratios, and so does the
total; the steps' estimates (means of the logs) add up exactly to the total's. A step's share is
its part of the total log ratio (a point value: a ratio of two noisy means has no stable
interval when the total is near 0, so none is claimed).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from catalog.metrics import lookup
from profiler.analysis import stats
from profiler.analysis.blocks import pair_blocks
from profiler.analysis.legs import load_leg
from profiler.analysis.overhead import block_log_ratios
from profiler.results.decomposition import Decomposition, DecompositionRow, Step

#: The metrics a decomposition table shows (catalogue keys).
METRICS = ("mean_ttft_ms", "mean_tpot_ms", "mean_itl_ms", "mean_e2el_ms", "steady_output_throughput")


def _step(leg: str, ref: str, d: np.ndarray, direction: str, pilot: int | None, total: float | None) -> Step:
    point, ci = stats.paired_log_ci(d, direction, pilot=pilot)
    finite = d[np.isfinite(d)]
    share = None
    if total is not None and finite.size and abs(total) > 1e-12:
        share = 100.0 * float(finite.mean()) / total
    return Step(
        leg=leg,
        reference=ref,
        overhead_pct=None if math.isnan(point) else point,
        ci_low=ci[0] if ci else None,
        ci_high=ci[1] if ci else None,
        significant=stats.significant(ci),
        share_pct=share,
    )


def chain_row(
    key: str, direction: str, chain: Sequence[str], steps_d: Sequence[np.ndarray], pilot: int | None = None
) -> DecompositionRow:
    """One metric's row from each step's per-block log ratios (same blocks, in block order):
    the total is their block-wise sum, so the steps' estimates add up to it exactly."""
    total_d = np.sum(steps_d, axis=0)
    total_mean = float(np.nanmean(total_d)) if np.isfinite(total_d).any() else None
    return DecompositionRow(
        metric=key,
        direction=direction,
        total=_step(chain[-1], chain[0], total_d, direction, pilot, None),
        steps=[
            _step(b, a, d, direction, pilot, total_mean)
            for (a, b), d in zip(itertools.pairwise(chain), steps_d, strict=True)
        ],
    )


def decompose(
    runs: Mapping[str, Sequence[Path]], chain: Sequence[str], *, pilot: int | None = None
) -> Decomposition:
    """The decomposition of one load point's chain from each leg's run directories."""
    interval = "paired t on per-block log ratios of each step" + (
        f" (two-stage, pilot {pilot})" if pilot else ""
    )
    legs = {name: load_leg(list(runs[name]), name) for name in chain}
    ratios = []
    for a, b in itertools.pairwise(chain):
        blocks = pair_blocks(legs[b], legs[a])
        if blocks is None:
            return Decomposition(
                chain=list(chain),
                blocks=0,
                interval=interval,
                reason=f"{b} and {a} do not form complete blocks",
            )
        ratios.append(block_log_ratios(legs[b], legs[a], blocks, with_goodput=False))
    n = min(len(next(iter(r.values()))[2]) for r in ratios)
    rows = []
    for key in METRICS:
        found = lookup(key)
        if found is None or any(key not in r for r in ratios):
            continue
        rows.append(chain_row(key, found[0].direction, chain, [r[key][2][:n] for r in ratios], pilot))
    return Decomposition(chain=list(chain), blocks=n, interval=interval, metrics=rows)
