"""When to stop raising the load on a leg: a pure function of the points measured so far.

A leg is saturated at point k when any of these holds (each is a policy field):

- throughput stops growing: the relative gain of request throughput over the best earlier point,
  divided by the relative load increase over that point, is below ``min_efficiency``
  (doubling the concurrency for +5% throughput is an efficiency of 0.05) at ``patience``
  consecutive points — one flat point on a noisy host (DESIGN §7: ±10% run to run on the CPU
  engine) is not enough to give up on a leg;
- latency explodes: p99 TTFT or p99 E2EL exceeds ``max_latency_ratio`` × its value at the first
  point (queueing, not batching, is then what the load buys);
- the client cannot deliver the load: on open-loop (rate) points, p99 client lag (sent −
  scheduled) exceeds ``max_lag_ms`` — the arrivals are no longer the ones asked for;
- requests fail: the failed fraction exceeds ``max_error_rate``.

Closed-loop (concurrency) points have a schedule of "now" for every request, so their client lag
is the wait for a free slot by design and is not a saturation signal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from profiler.capacity.points import LoadPoint, SloStat

_EXPLODING = (SloStat("ttft", "p99"), SloStat("e2el", "p99"))


@dataclass(frozen=True)
class SaturationPolicy:
    min_efficiency: float = 0.1
    patience: int = 2
    max_latency_ratio: float = 20.0
    max_lag_ms: float = 500.0
    max_error_rate: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Saturation:
    saturated: bool
    index: int | None = None  # the point at which saturation was seen
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def point_reason(points: Sequence[LoadPoint], k: int, policy: SaturationPolicy) -> str | None:
    """Why point ``k`` alone shows saturation (failures, client lag, exploding latency), or None."""
    p = points[k]
    if p.error_rate > policy.max_error_rate:
        return f"{p.error_rate:.1%} of requests failed (> {policy.max_error_rate:.0%})"
    if not p.closed_loop and p.lag_p99_ms is not None and p.lag_p99_ms > policy.max_lag_ms:
        return (
            f"p99 client lag {p.lag_p99_ms:.0f} ms > {policy.max_lag_ms:.0f} ms: "
            f"the {p.load:g} req/s schedule was not delivered"
        )
    if k == 0:
        return None
    first = points[0]
    for metric in _EXPLODING:
        v0, vk = first.value(metric), p.value(metric)
        if v0 > 0 and math.isfinite(vk) and vk > policy.max_latency_ratio * v0:
            return (
                f"{metric.label.replace(' (ms)', '')} exploded: {vk:.0f} ms = {vk / v0:.0f}× "
                f"the {v0:.0f} ms at load {first.load:g}"
            )
    return None


def flat_reason(points: Sequence[LoadPoint], k: int, policy: SaturationPolicy) -> str | None:
    """Why point ``k`` did not buy throughput over the best earlier point, or None."""
    if k == 0:
        return None
    p = points[k]
    best = max(range(k), key=lambda i: points[i].qps)
    ref = points[best]
    load_gain = p.load / ref.load - 1 if ref.load > 0 else math.inf
    if ref.qps > 0 and load_gain > 0 and math.isfinite(load_gain):
        gain = p.qps / ref.qps - 1
        efficiency = gain / load_gain
        if efficiency < policy.min_efficiency:
            return (
                f"throughput {gain:+.1%} for {load_gain:+.0%} load over {ref.load:g} "
                f"(efficiency {efficiency:.2f} < {policy.min_efficiency:.2f})"
            )
    return None


def detect(points: Sequence[LoadPoint], policy: SaturationPolicy | None = None) -> Saturation:
    """The first point at which the leg saturated (points in increasing load order)."""
    policy = policy or SaturationPolicy()
    flat: list[str] = []
    for k in range(len(points)):
        reason = point_reason(points, k, policy)
        if reason:
            return Saturation(True, k, reason)
        why = flat_reason(points, k, policy)
        flat = [*flat, why] if why else []
        if len(flat) >= max(1, policy.patience):
            text = flat[-1] if len(flat) == 1 else f"{len(flat)} points in a row: " + "; ".join(flat)
            return Saturation(True, k, text)
    return Saturation(False)
