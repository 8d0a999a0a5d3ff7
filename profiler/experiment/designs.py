"""Ordering strategies: in which order the legs of each block run (DESIGN §4).

A block is one run of every leg, adjacent in time, with identical workloads. A design decides
the order inside each block from the block's number, counted over the whole experiment (all
load points), so carry-over and slow drift of the host are balanced across everything that ran.
Designs register by name in :data:`DESIGNS`; an experiment records the name it used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from catalog.registry import Registry

Order = Callable[[Sequence[str], int], list[str]]


@dataclass(frozen=True)
class Design:
    name: str
    description: str  # in words, for the index file and the report
    order: Order  # (legs in their given order, block number from 0) → this block's order
    min_legs: int = 1
    max_legs: int | None = None

    def check(self, legs: Sequence[str]) -> None:
        if len(legs) < self.min_legs or (self.max_legs is not None and len(legs) > self.max_legs):
            most = "" if self.max_legs is None else f" and at most {self.max_legs}"
            raise ValueError(
                f"the {self.name} design needs at least {self.min_legs}{most} legs, got {len(legs)}"
            )

    def orders(self, legs: Sequence[str], blocks: int, first_block: int = 0) -> list[list[str]]:
        return [self.order(legs, first_block + b) for b in range(blocks)]


DESIGNS: Registry[Design] = Registry("design")


def _abba(legs: Sequence[str], block: int) -> list[str]:
    """A B, B A, A B, …: a linear drift of the host adds the same to both legs over every two
    blocks, and each leg runs first as often as second."""
    return list(legs) if block % 2 == 0 else list(reversed(legs))


def williams_sequences(k: int) -> list[list[int]]:
    """A Williams design for k treatments: orders (as indices) in which every treatment follows
    every other one equally often, so first-order carry-over is balanced. Even k: k sequences;
    odd k: 2k (the square and its mirror). k = 2 gives AB, BA: ABBA."""
    if k < 1:
        raise ValueError("a design needs at least one leg")
    first = [0]
    lo, hi = 1, k - 1
    while len(first) < k:
        first.append(lo)
        lo += 1
        if len(first) < k:
            first.append(hi)
            hi -= 1
    rows = [[(x + i) % k for x in first] for i in range(k)]
    if k % 2 == 1:
        rows += [list(reversed(r)) for r in rows]
    return rows


def _williams(legs: Sequence[str], block: int) -> list[str]:
    """Block b runs Williams sequence b mod (k or 2k): over every full cycle each leg runs in
    each position equally often and follows each other leg equally often."""
    rows = williams_sequences(len(legs))
    return [legs[i] for i in rows[block % len(rows)]]


def _single(legs: Sequence[str], block: int) -> list[str]:
    return list(legs)


DESIGNS.add("abba", Design("abba", "ABBA: A, B then B, A in alternate blocks", _abba, min_legs=1, max_legs=2))
DESIGNS.add(
    "williams",
    Design("williams", "Williams: every leg follows every other equally often (ABBA for 2 legs)", _williams),
)
DESIGNS.add("single", Design("single", "one leg, one run per block", _single, min_legs=1, max_legs=1))
