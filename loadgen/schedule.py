"""Arrival processes: pure functions from (n, rate, burstiness, seed) to target send offsets (ns).

Semantics follow ``vllm bench serve``: inter-arrival gaps are gamma-distributed with shape
``burstiness`` and scale ``1 / (rate · burstiness)`` (burstiness 1 = Poisson, inf = constant),
cumulated, then rescaled so the last request lands at exactly ``n / rate`` seconds (vLLM does
this so different seeds give the same mean rate). ``rate = inf`` sends everything at offset 0,
and the concurrency cap alone paces the run.

Ramp-up (``ramp_up_s = T``) is a time change of the same process: the instantaneous rate grows
linearly from 0 to ``rate`` over T, then stays there. An arrival at time s of the un-ramped
process moves to τ with ``Λ(τ) = rate · s``, i.e. ``τ = sqrt(2·T·s)`` for s < T/2, else
``τ = s + T/2``. For ``rate = inf`` ramp-up instead staggers the first ``concurrency`` requests
evenly over T (the cap paces the rest).

Every schedule is registered by name in :data:`SCHEDULES`; offsets are non-decreasing ints.

Sharding (``--workers N``, :func:`shard`): the full seeded schedule is generated once, and each
request is dealt to one worker process; a worker sends its requests at their offsets in the
full schedule, so the union of the shards is exactly the single-process schedule. With a finite
rate each request goes to a worker drawn uniformly at random (its own seeded stream, so the
same seed gives the same split): random thinning, which keeps every shard of a Poisson process
a Poisson process at rate/N — dealing round-robin would make each shard Erlang-N, far more
regular than the process it came from. At rate inf the schedule is all zeros and only the
concurrency cap paces each worker, so requests are dealt round-robin for balanced shares.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from catalog.registry import Registry
from loadgen.metrics import NS_PER_S


@dataclass(frozen=True)
class ScheduleParams:
    n: int
    rate: float = math.inf
    burstiness: float = 1.0
    seed: int = 0


Schedule = Callable[[ScheduleParams], np.ndarray]  # → float seconds, length n, non-decreasing
SCHEDULES: Registry[Schedule] = Registry("schedule")


def _rescaled(gaps: np.ndarray, p: ScheduleParams) -> np.ndarray:
    times = np.cumsum(gaps)
    if times.size and times[-1] > 0:
        times = times * ((p.n / p.rate) / times[-1])
    return times


@SCHEDULES.register("inf")
def _inf(p: ScheduleParams) -> np.ndarray:
    return np.zeros(p.n)


@SCHEDULES.register("constant")
def _constant(p: ScheduleParams) -> np.ndarray:
    return np.arange(1, p.n + 1, dtype=float) / p.rate


@SCHEDULES.register("poisson")
def _poisson(p: ScheduleParams) -> np.ndarray:
    rng = np.random.default_rng(p.seed)
    return _rescaled(rng.exponential(1.0 / p.rate, size=p.n), p)


@SCHEDULES.register("gamma")
def _gamma(p: ScheduleParams) -> np.ndarray:
    rng = np.random.default_rng(p.seed)
    return _rescaled(rng.gamma(shape=p.burstiness, scale=1.0 / (p.rate * p.burstiness), size=p.n), p)


def schedule_name(rate: float, burstiness: float = 1.0) -> str:
    """The registered process that vLLM would use for this rate and burstiness."""
    if math.isinf(rate):
        return "inf"
    if math.isinf(burstiness):
        return "constant"
    return "poisson" if burstiness == 1.0 else "gamma"


def ramp_up(times_s: np.ndarray, ramp_up_s: float, *, rate: float, concurrency: int) -> np.ndarray:
    """Apply the ramp-up time change described in the module docstring (pure)."""
    if ramp_up_s <= 0 or times_s.size == 0:
        return times_s
    if math.isinf(rate):
        out = times_s.copy()
        k = min(concurrency, out.size)
        out[:k] = np.arange(k) * (ramp_up_s / k)
        # later requests wait for a slot anyway; never schedule them before the ramp's last start
        out[k:] = np.maximum(out[k:], out[k - 1] if k else 0.0)
        return out
    half = ramp_up_s / 2
    return np.where(times_s < half, np.sqrt(2 * ramp_up_s * np.clip(times_s, 0, None)), times_s + half)


def offsets_ns(
    n: int,
    rate: float = math.inf,
    *,
    burstiness: float = 1.0,
    seed: int = 0,
    ramp_up_s: float = 0.0,
    concurrency: int = 1,
    name: str | None = None,
) -> list[int]:
    """Target send offsets (ns from the run's start) for n requests; pure and seeded."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if not rate > 0:
        raise ValueError("request rate must be > 0 (use inf for no rate limit)")
    if not burstiness > 0:
        raise ValueError("burstiness must be > 0")
    schedule = SCHEDULES.get(name or schedule_name(rate, burstiness))
    times = schedule(ScheduleParams(n=n, rate=rate, burstiness=burstiness, seed=seed))
    times = ramp_up(np.asarray(times, dtype=float), ramp_up_s, rate=rate, concurrency=concurrency)
    return [round(float(t) * NS_PER_S) for t in times]


#: Seeds the worker-assignment stream apart from the arrival stream of the same ``seed``.
_SHARD_STREAM = 0x5348415244


def shard(n: int, workers: int, *, rate: float = math.inf, seed: int = 0) -> list[list[int]]:
    """Deal request indices 0..n-1 to ``workers`` shards, each in schedule order (pure, seeded)."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if workers == 1:
        return [list(range(n))]
    if math.isinf(rate):
        return [list(range(w, n, workers)) for w in range(workers)]
    owner = np.random.default_rng([seed, _SHARD_STREAM]).integers(0, workers, size=n)
    return [np.flatnonzero(owner == w).tolist() for w in range(workers)]
