"""SLOs and the SLO-bound maximum load of a leg, interpolated between measured points.

The SLOs bound latency statistics of a load point (``ttft_p99_ms=500`` : the p99 TTFT of the
point ≤ 500 ms) and its failed fraction (≤ ``max_error_rate``). Walking the points in increasing
load, the first point that violates any bound ends the feasible region; between it and the point
before, every violated statistic is taken as linear along the segment and the earliest crossing
fixes the operating point: its throughput, load and output tokens/s are interpolated at the same
fraction of the segment. Where the answer lies outside the measured points, ``kind`` says so:

- ``interpolated``  between two measured points (the normal case);
- ``measured``      a measured point: the leg saturated while still meeting the SLOs, or throughput
                    fell past the peak before the SLOs broke; or no SLOs were given (peak);
- ``lower_bound``   every point met the SLOs and throughput was still growing: capacity is at least
                    the best measured point (``extrapolated_qps`` gives a linear guess above it);
- ``extrapolated``  even the lowest load violated an SLO; the crossing is extrapolated below it;
- ``none``          no load meets the SLOs (e.g. TTFT at concurrency 1 already exceeds it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from profiler.capacity.points import LoadPoint, SloStat
from profiler.errors import UserError

ERROR_RATE = "error_rate"


@dataclass(frozen=True)
class Slos:
    """Latency bounds (ms) on point statistics, plus the tolerated failed fraction."""

    limits: Mapping[SloStat, float] = field(default_factory=dict)
    max_error_rate: float = 0.01

    def __bool__(self) -> bool:
        return bool(self.limits)

    def to_dict(self) -> dict[str, float]:
        return {m.name: v for m, v in self.limits.items()}

    def describe(self) -> str:
        if not self.limits:
            return "no SLO"
        return ", ".join(f"{m.label.replace(' (ms)', '')} ≤ {v:g} ms" for m, v in self.limits.items())

    @classmethod
    def from_dict(cls, data: Mapping[str, float] | None, max_error_rate: float = 0.01) -> Slos:
        return cls({SloStat.parse(k): float(v) for k, v in (data or {}).items()}, max_error_rate)


def parse_slos(text: str | None, max_error_rate: float = 0.01) -> Slos:
    """``ttft_p99_ms=500,tpot_p99_ms=50`` → :class:`Slos` (UserError naming the bad part)."""
    limits: dict[SloStat, float] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise UserError(f"--slo: {part!r} needs a value, e.g. ttft_p99_ms=500")
        try:
            metric = SloStat.parse(name)
        except ValueError as exc:
            raise UserError(f"--slo: {exc}") from None
        try:
            limit = float(value)
        except ValueError:
            raise UserError(f"--slo: {name}={value!r} is not a number (milliseconds)") from None
        if not limit > 0 or math.isinf(limit):
            raise UserError(f"--slo: {name} must be a positive number of milliseconds")
        limits[metric] = limit
    return Slos(limits, max_error_rate)


@dataclass(frozen=True)
class Capacity:
    """The SLO-bound maximum of one leg (per replica)."""

    qps: float | None
    load: float | None = None
    output_tps: float | None = None
    kind: str = "none"
    binding: str | None = None  # the SLO (or "throughput") that limits it
    lo: int | None = None  # bracketing point indices
    hi: int | None = None
    fraction: float | None = None  # position between lo and hi (<0 or >1 when extrapolated)
    extrapolated_qps: float | None = None
    note: str = ""

    @property
    def tokens_per_request(self) -> float | None:
        if self.qps and self.output_tps is not None and self.qps > 0:
            return self.output_tps / self.qps
        return None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tokens_per_request": self.tokens_per_request}


@dataclass(frozen=True)
class Curve:
    """Plain arrays of one leg, so the bootstrap can feed replicates through the same function."""

    loads: Sequence[float]
    qps: Sequence[float]
    output_tps: Sequence[float]
    values: Mapping[str, Sequence[float]]  # metric name (and "error_rate") -> value per point
    closed_loop: bool = True

    @classmethod
    def of(cls, points: Sequence[LoadPoint], slos: Slos) -> Curve:
        values: dict[str, list[float]] = {m.name: [p.value(m) for p in points] for m in slos.limits}
        values[ERROR_RATE] = [p.error_rate for p in points]
        return cls(
            loads=[p.load for p in points],
            qps=[p.qps for p in points],
            output_tps=[p.output_tps for p in points],
            values=values,
            closed_loop=all(p.closed_loop for p in points),
        )


def _limits(slos: Slos) -> dict[str, float]:
    out = {m.name: v for m, v in slos.limits.items()}
    out[ERROR_RATE] = slos.max_error_rate
    return out


def _passes(value: float, limit: float) -> bool:
    return math.isfinite(value) and value <= limit  # NaN: nothing succeeded → fails


def _lerp(seq: Sequence[float], i: int, j: int, f: float) -> float:
    return float(seq[i] + f * (seq[j] - seq[i]))


def capacity(curve: Curve, slos: Slos, *, saturated: bool) -> Capacity:
    """The SLO-bound maximum throughput of one leg (see the module doc for the cases)."""
    n = len(curve.loads)
    if n == 0:
        return Capacity(None, note="no load point was measured")
    best_all = max(range(n), key=lambda k: curve.qps[k])
    if not slos:
        return _at(curve, best_all, "measured", "throughput", "no SLO given: the peak measured throughput")
    limits = _limits(slos)
    failing = [
        [name for name, lim in limits.items() if not _passes(curve.values[name][k], lim)] for k in range(n)
    ]
    j = next((k for k in range(n) if failing[k]), None)
    if j is None:
        return _all_pass(curve, limits, saturated)
    if j == 0:
        return _below_range(curve, limits, failing[0])
    i = j - 1
    fractions = {}
    for name in failing[j]:
        vi, vj = curve.values[name][i], curve.values[name][j]
        fractions[name] = (limits[name] - vi) / (vj - vi) if math.isfinite(vj) and vj > vi else 0.0
    binding = min(fractions, key=lambda k: fractions[k])
    f = min(max(fractions[binding], 0.0), 1.0)
    qps = _lerp(curve.qps, i, j, f)
    best = max(range(j), key=lambda k: curve.qps[k])
    again = [k for k in range(j + 1, n) if not failing[k]]
    note = f"{binding} crosses its bound between loads {curve.loads[i]:g} and {curve.loads[j]:g}"
    if again:
        loads = ", ".join(f"{curve.loads[k]:g}" for k in again)
        note += f"; load(s) {loads} pass again (noise?) and are ignored"
    if curve.qps[best] > qps:  # the operating point is that measured peak, not the crossing
        return _at(curve, best, "measured", binding, note + "; throughput peaked before that")
    return Capacity(
        qps=qps,
        load=_lerp(curve.loads, i, j, f),
        output_tps=_lerp(curve.output_tps, i, j, f),
        kind="interpolated",
        binding=binding,
        lo=i,
        hi=j,
        fraction=f,
        note=note,
    )


def _at(curve: Curve, k: int, kind: str, binding: str | None, note: str) -> Capacity:
    return Capacity(
        qps=float(curve.qps[k]),
        load=float(curve.loads[k]),
        output_tps=float(curve.output_tps[k]),
        kind=kind,
        binding=binding,
        lo=k,
        hi=k,
        fraction=0.0,
        note=note,
    )


def _crossings(
    curve: Curve, limits: Mapping[str, float], names: Sequence[str], i: int, j: int
) -> dict[str, float]:
    """Segment fractions where each rising statistic meets its bound on the line through i, j."""
    out = {}
    for name in names:
        vi, vj = curve.values[name][i], curve.values[name][j]
        if math.isfinite(vi) and math.isfinite(vj) and vj > vi:
            out[name] = (limits[name] - vi) / (vj - vi)
    return out


def _all_pass(curve: Curve, limits: Mapping[str, float], saturated: bool) -> Capacity:
    n = len(curve.loads)
    best = max(range(n), key=lambda k: curve.qps[k])
    if saturated:
        return _at(
            curve, best, "measured", "throughput",
            "the leg saturated while meeting every SLO: capacity is its peak measured throughput",
        )
    extra = None
    if n >= 2 and curve.qps[n - 1] > curve.qps[n - 2]:
        cross = _crossings(curve, limits, [k for k in limits if k != ERROR_RATE], n - 2, n - 1)
        if cross:
            extra = _lerp(curve.qps, n - 2, n - 1, min(cross.values()))
    if best == n - 1:
        why = "throughput still grows"
    else:
        why = (
            f"throughput peaked at load {curve.loads[best]:g} but saturation was not confirmed "
            "(one flat point can be noise)"
        )
    cap = _at(
        curve, best, "lower_bound", None,
        f"every measured load meets the SLOs and {why}: capacity is at least the highest measured "
        "throughput (sweep higher loads to find it)",
    )
    return Capacity(**{**asdict(cap), "extrapolated_qps": extra})


def _below_range(curve: Curve, limits: Mapping[str, float], names: Sequence[str]) -> Capacity:
    lowest = curve.loads[0]
    what = ", ".join(f"{k} = {curve.values[k][0]:.4g} > {limits[k]:g}" for k in names)
    if len(curve.loads) < 2 or (curve.closed_loop and lowest <= 1):
        why = "even one request at a time" if curve.closed_loop and lowest <= 1 else "the only load"
        return Capacity(None, kind="none", binding=names[0], note=f"{why} violates the SLOs ({what})")
    cross = _crossings(curve, limits, names, 0, 1)
    if len(cross) < len(names):
        note = f"the lowest load violates the SLOs ({what}) and latency does not fall with load"
        return Capacity(None, kind="none", binding=names[0], note=note)
    binding = min(cross, key=lambda k: cross[k])
    f = cross[binding]
    qps, load = _lerp(curve.qps, 0, 1, f), _lerp(curve.loads, 0, 1, f)
    if qps <= 0 or load <= 0 or (curve.closed_loop and load < 1):
        note = f"the lowest load violates the SLOs ({what}); no positive load is predicted to meet them"
        return Capacity(None, kind="none", binding=binding, note=note)
    return Capacity(
        qps=qps,
        load=load,
        output_tps=_lerp(curve.output_tps, 0, 1, f),
        kind="extrapolated",
        binding=binding,
        lo=0,
        hi=1,
        fraction=f,
        note=f"the lowest load {lowest:g} violates the SLOs ({what}); extrapolated below it",
    )


def capacity_of(points: Sequence[LoadPoint], slos: Slos, *, saturated: bool | None = None) -> Capacity:
    """:func:`capacity` of measured points (saturation detected with the default policy if None)."""
    if saturated is None:
        from profiler.capacity.saturation import detect

        saturated = detect(points).saturated
    return capacity(Curve.of(points, slos), slos, saturated=saturated)
