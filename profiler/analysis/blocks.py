"""Blocks: which run of one leg ran beside which run of the other (DESIGN §4).

A block is one run of every leg, adjacent in time, with identical prompts and arrival times.
The experiment engine records it in every run's manifest (``experiment``: id, load point, block
number). Two legs' runs pair up when their (experiment, point, block) agree. The comparison then
works on per-block log ratios: drift of the host over seconds, larger than the TEE effects,
hits both runs of a block alike and cancels in their ratio.

Blocks are complete when every run of both legs has its partner; otherwise the comparison falls
back to the unpaired run-level interval (and says so).
"""

from __future__ import annotations

from dataclasses import dataclass

from profiler.analysis.legs import LegData

BlockKey = tuple[str, str, int]  # (experiment id, load point, block)


@dataclass(frozen=True)
class Blocks:
    keys: list[BlockKey]  # in experiment order
    on: list[int]  # the on leg's run index of each block
    off: list[int]

    def __len__(self) -> int:
        return len(self.keys)


def _keys(leg: LegData) -> list[BlockKey] | None:
    out: list[BlockKey] = []
    for run in leg.runs:
        ref = run.manifest.experiment
        if ref is None or ref.point is None:
            return None
        out.append((ref.id, ref.point, ref.block))
    return out if len(set(out)) == len(out) else None


def pair_blocks(on: LegData, off: LegData) -> Blocks | None:
    """The complete blocks of two legs, or None when any run lacks its partner (or no run
    records its block, e.g. imported results)."""
    k_on, k_off = _keys(on), _keys(off)
    if k_on is None or k_off is None or set(k_on) != set(k_off) or len(k_on) < 2:
        return None
    order = sorted(k_on, key=lambda k: (k[0], k[2], k[1]))
    return Blocks(order, [k_on.index(k) for k in order], [k_off.index(k) for k in order])


def block_prompts_match(on: LegData, off: LegData, blocks: Blocks) -> bool:
    """Both runs of every block sent the same prompts in the same order."""
    for i, j in zip(blocks.on, blocks.off, strict=True):
        a = _run_keys(on, i)
        if a is None or a != _run_keys(off, j):
            return False
    return True


def _run_keys(leg: LegData, run: int) -> list[object] | None:
    keys = leg.request_keys()
    return None if keys is None else [keys[r] for r in leg.groups[run]]
