"""Runs at several load points → one comparison per point + ``load_curve.json`` (DESIGN §4).

A run's load point is its request rate and concurrency, as its manifest records them
(``request_rate``; ``workload.concurrency``, or vLLM's ``max_concurrency`` for imports). The
runs of each leg are grouped by it, the groups of the two legs paired, and each pair compared
exactly as ``compare`` compares one pair (:func:`profiler.analysis.compare.compare_runs`, the
same options and seed), into ``<out>/<point>/comparison.json``. One comparison stays one load
point; ``<out>/load_curve.json`` is the index across them: per point the offered load, each
leg's achieved throughput, and the headline rows (copied, never recomputed) with their CIs;
the points only one leg measured; and the queueing model (:mod:`profiler.analysis.queueing`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog.metrics import RUN_STAT, lookup
from profiler import __version__
from profiler.analysis import queueing, stats
from profiler.analysis.legs import expand_paths
from profiler.errors import UserError
from profiler.results.comparison import Comparison, MetricRow
from profiler.results.load_curve import CurvePoint, LegLoad, LoadCurve, Unpaired
from profiler.store import read_run, utc_now

TTFT = "mean_ttft_ms"
QPS = "request_throughput"
TPS = "output_throughput"
HEADLINE_STATS = ("mean", RUN_STAT)


@dataclass(frozen=True, order=True)
class LoadKey:
    """A load point: (request rate, concurrency). None = the runs do not say."""

    rate: float | None
    concurrency: int | None

    def order(self) -> tuple[float, float]:
        rate = -1.0 if self.rate is None else self.rate
        return rate, -1.0 if self.concurrency is None else float(self.concurrency)


def _rate(value: Any) -> float | None:
    if isinstance(value, str) and value.strip().lower() in ("inf", "infinity"):
        return math.inf
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def load_key(path: Path) -> LoadKey:
    """The load point one run directory records."""
    manifest = read_run(path).manifest
    workload = manifest.workload or {}
    rate = manifest.request_rate if manifest.request_rate is not None else _rate(workload.get("request_rate"))
    conc = workload.get("concurrency", workload.get("max_concurrency"))
    return LoadKey(rate, int(conc) if isinstance(conc, int) and not isinstance(conc, bool) else None)


def group(paths: Sequence[Path]) -> dict[LoadKey, list[Path]]:
    """Run directories (named, or under folders) grouped by load point, in load order."""
    out: dict[LoadKey, list[Path]] = {}
    for p in expand_paths(paths):
        out.setdefault(load_key(p), []).append(p)
    return dict(sorted(out.items(), key=lambda kv: kv[0].order()))


def point_names(keys: Sequence[LoadKey]) -> dict[LoadKey, str]:
    """``rate=4`` when the rates tell the points apart, else ``concurrency=16`` (closed loop)
    or ``rate=4,concurrency=16``: the names a profile and a sweep give their points."""
    rates = [k.rate for k in keys]
    by_rate = len(set(rates)) == len(rates)
    names = {}
    for k in keys:
        rate = None if k.rate is None else ("inf" if math.isinf(k.rate) else f"{k.rate:g}")
        if rate is not None and (by_rate or k.concurrency is None):
            names[k] = f"rate={rate}"
        elif k.concurrency is not None and (rate is None or rate == "inf"):
            names[k] = f"concurrency={k.concurrency}"
        elif rate is not None:
            names[k] = f"rate={rate},concurrency={k.concurrency}"
        else:
            names[k] = "load=unknown"
    return names


@dataclass
class LoadSplit:
    """Both legs' runs grouped by load point, paired by it."""

    on: dict[LoadKey, list[Path]]
    off: dict[LoadKey, list[Path]]
    names: dict[LoadKey, str] = field(default_factory=dict)

    @property
    def several(self) -> bool:
        """Several load points on a leg: compare pairs by point (one point each: as before)."""
        return len(self.on) > 1 or len(self.off) > 1

    @property
    def paired(self) -> list[LoadKey]:
        return [k for k in self.names if k in self.on and k in self.off]

    @property
    def load_kind(self) -> str:
        keys = list(self.names)
        rates = [k.rate for k in keys]
        closed = len(set(rates)) < len(rates) and all(r is None or math.isinf(r) for r in rates)
        return "concurrency" if closed else "rate"


def split(on: Sequence[Path], off: Sequence[Path]) -> LoadSplit:
    s = LoadSplit(group(on), group(off))
    keys = sorted(set(s.on) | set(s.off), key=LoadKey.order)
    s.names = point_names(keys)
    return s


# ------------------------------------------------------------------------------ the curve


def _leg_load(cmp: Comparison, leg: str) -> LegLoad:
    def value(key: str) -> float | None:
        row = cmp.row(key)
        return None if row is None else (row.on if leg == "on" else row.off)

    return LegLoad(
        runs=list(cmp.on_runs if leg == "on" else cmp.off_runs),
        qps=value(QPS),
        output_tps=value(TPS),
        mean_ttft_ms=value(TTFT),
    )


def curve_point(name: str, key: LoadKey, cmp: Comparison, comparison: str | None) -> CurvePoint:
    """One point of the curve from its comparison (rows copied as comparison.json holds them)."""
    return CurvePoint(
        name=name,
        request_rate=key.rate,
        concurrency=key.concurrency,
        comparison=comparison,
        interval=f"{cmp.method.interval} (design: {cmp.method.bootstrap})",
        on=_leg_load(cmp, "on"),
        off=_leg_load(cmp, "off"),
        metrics=[r for r in cmp.metrics if r.stat in HEADLINE_STATS],
    )


def observations(
    points: Sequence[CurvePoint], load_kind: str, saturated: dict[str, list[bool]] | None = None
) -> list[queueing.PointObs]:
    """What the queueing model needs from each point: arrival rate, throughput, mean TTFT, and
    whether the point measured the leg's capacity (``saturated``: a sweep's own verdicts)."""
    closed = load_kind == "concurrency"
    if closed:
        saturated = _closed_saturation(points, saturated)
    out = []
    for i, p in enumerate(points):
        legs = {}
        for leg in queueing.LEGS:
            load: LegLoad = getattr(p, leg)
            sat = (not closed and not queueing.keeps_up(p.request_rate, load.qps)) or bool(
                saturated and saturated[leg][i]
            )
            if closed:  # arrivals are the throughput itself; past saturation a queue always waits
                rate = math.inf if sat else (load.qps if load.qps is not None else math.nan)
            else:
                rate = p.request_rate if p.request_rate is not None else math.nan
            legs[leg] = queueing.LegObs(rate=rate, qps=load.qps, ttft_ms=load.mean_ttft_ms, saturated=sat)
        out.append(queueing.PointObs(p.name, p.request_rate, legs["on"], legs["off"], p.row(TTFT)))
    return out


def _closed_saturation(
    points: Sequence[CurvePoint], verdicts: dict[str, list[bool]] | None
) -> dict[str, list[bool]]:
    """Closed-loop points: saturated from the sweep's verdict (or its rule: throughput stops
    growing with load) on, and the best-throughput point, which measured the capacity."""
    from profiler.capacity.points import LoadPoint
    from profiler.capacity.saturation import detect

    out = {}
    for leg in queueing.LEGS:
        loads = [getattr(p, leg) for p in points]
        lp = [
            LoadPoint(load=float(p.concurrency or 0), qps=x.qps or 0.0, output_tps=x.output_tps or 0.0)
            for p, x in zip(points, loads, strict=True)
        ]
        if verdicts is not None:
            flags = list(verdicts[leg])
        else:
            sat = detect(lp)
            first = sat.index if sat.saturated and sat.index is not None else len(lp)
            flags = [i >= first for i in range(len(lp))]
        if any(flags) and lp:
            flags[max(range(len(lp)), key=lambda i: lp[i].qps)] = True
        out[leg] = flags
    return out


def build_curve(
    points: Sequence[CurvePoint],
    *,
    source: str,
    model: str | None,
    aa: bool = False,
    load_kind: str = "rate",
    unpaired: Sequence[Unpaired] = (),
    interval: str | None = None,
    limit_pct: float = queueing.DEFAULT_LIMIT_PCT,
    saturated: dict[str, list[bool]] | None = None,
) -> LoadCurve:
    intervals = sorted({p.interval for p in points})
    model_fit = queueing.fit(observations(points, load_kind, saturated), limit_pct)
    if load_kind == "concurrency" and model_fit.supported:
        model_fit.assumptions.append(
            "Closed-loop points: each leg's arrival rate is taken to be its achieved throughput."
        )
    return LoadCurve(
        tool_version=__version__,
        created=utc_now(),
        model=model,
        aa=aa,
        source=source,
        load_kind="concurrency" if load_kind == "concurrency" else "rate",
        interval=interval or ("; ".join(intervals) if intervals else "none"),
        points=list(points),
        unpaired=list(unpaired),
        queueing=model_fit,
    )


def compare_load_points(
    s: LoadSplit,
    out: Path,
    *,
    limit_pct: float = queueing.DEFAULT_LIMIT_PCT,
    **options: Any,
) -> LoadCurve:
    """One comparison per paired load point under ``out/<point>/``; ``out/load_curve.json``."""
    from profiler.analysis.compare import compare_runs  # numerics load only when comparing

    if not s.paired:
        listed = "; ".join(
            f"{leg}: {', '.join(s.names[k] for k in runs)}" for leg, runs in (("on", s.on), ("off", s.off))
        )
        raise UserError(f"no load point was measured on both legs ({listed})")
    out = Path(out)
    points, model = [], None
    for key in s.paired:
        name = s.names[key]
        cmp = compare_runs(s.on[key], s.off[key], out / name, **options)
        model = model or cmp.model
        points.append(curve_point(name, key, cmp, name))
    unpaired = [
        Unpaired(
            name=s.names[k],
            request_rate=k.rate,
            concurrency=k.concurrency,
            leg=leg,
            runs=[str(p) for p in runs[k]],
        )
        for leg, runs, other in (("on", s.on, s.off), ("off", s.off, s.on))
        for k in runs
        if k not in other
    ]
    curve = build_curve(
        points,
        source="compare",
        model=model,
        aa=bool(options.get("aa")),
        load_kind=s.load_kind,
        unpaired=unpaired,
        limit_pct=limit_pct,
    )
    out.mkdir(parents=True, exist_ok=True)
    curve.save(out / LoadCurve.FILE)
    return curve


def curve_from_comparisons(
    found: Sequence[tuple[str, LoadKey, Comparison, Path]],
    root: Path,
    *,
    source: str,
    model: str | None,
    aa: bool = False,
    limit_pct: float = queueing.DEFAULT_LIMIT_PCT,
) -> LoadCurve:
    """The curve of comparisons that exist (a profile's points): nothing is compared again."""
    found = sorted(found, key=lambda f: f[1].order())
    keys = [k for _, k, _, _ in found]
    kind = LoadSplit({k: [] for k in keys}, {}, {k: n for n, k, _, _ in found}).load_kind
    points = [curve_point(name, key, cmp, os.path.relpath(cdir, root)) for name, key, cmp, cdir in found]
    return build_curve(points, source=source, model=model, aa=aa, load_kind=kind, limit_pct=limit_pct)


def find_curve(path: Path) -> Path:
    """The directory holding ``load_curve.json``: ``path`` itself, or its ``compare/`` (a sweep)."""
    path = Path(path)
    for cand in (path, path / "compare"):
        if (cand / LoadCurve.FILE).is_file():
            return cand
    raise UserError(f"{path}: no {LoadCurve.FILE} here")


# ---------------------------------------------------------------- summary-only sources

SUMMARY_INTERVAL = "none: summaries only (no per-request data), point estimates without CIs"


def summary_row(key: str, on: float | None, off: float | None) -> MetricRow | None:
    """A point estimate from two summaries, by the statistics home (no CI: no requests)."""
    found = lookup(key)
    if found is None:
        return None
    metric, stat = found
    value = float(stats.overhead(on, off, metric.direction)) if on is not None and off is not None else None
    return MetricRow(
        metric=key,
        family=metric.name,
        stat=stat,
        direction=metric.direction,
        unit=metric.unit,
        on=on,
        off=off,
        overhead_pct=value if value is not None and math.isfinite(value) else None,
        ci_low=None,
        ci_high=None,
        significant=None,
        n_on=1,
        n_off=1,
    )


def curve_from_summaries(
    model: str,
    on: dict[float, dict[str, float]],
    off: dict[float, dict[str, float]],
    *,
    source: str,
    limit_pct: float = queueing.DEFAULT_LIMIT_PCT,
) -> LoadCurve:
    """A curve from per-rate summaries of both legs (rate → summary key → value)."""
    keys = sorted(set(on) | set(off))
    names = point_names([LoadKey(r, None) for r in keys])
    points = []
    for rate in sorted(set(on) & set(off)):
        rows = [
            summary_row(k, on[rate].get(k), off[rate].get(k)) for k in sorted(set(on[rate]) | set(off[rate]))
        ]
        kept = [r for r in rows if r is not None and r.stat in HEADLINE_STATS]

        def leg(values: dict[str, float]) -> LegLoad:
            return LegLoad(qps=values.get(QPS), output_tps=values.get(TPS), mean_ttft_ms=values.get(TTFT))

        points.append(
            CurvePoint(
                name=names[LoadKey(rate, None)],
                request_rate=rate,
                concurrency=None,
                comparison=None,
                interval=SUMMARY_INTERVAL,
                on=leg(on[rate]),
                off=leg(off[rate]),
                metrics=kept,
            )
        )
    unpaired = [
        Unpaired(name=names[LoadKey(r, None)], request_rate=r, concurrency=None, leg=leg, runs=[])
        for leg, mine, other in (("on", on, off), ("off", off, on))
        for r in sorted(mine)
        if r not in other
    ]
    return build_curve(
        points, source=source, model=model, unpaired=unpaired, interval=SUMMARY_INTERVAL, limit_pct=limit_pct
    )
