"""Load-curve figures: overhead against offered load (CI whiskers), latency against throughput.

Both draw only what ``load_curve.json`` holds: the per-point rows copied from the comparisons
and the queueing model's sampled curve. rate=inf has no place on a rate axis: it is drawn at
the right end, past the largest finite rate, and labelled "inf".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from profiler.report.plots_common import leg_color, leg_name, new_figure, use_log_scale
from profiler.report.text import metric_label
from profiler.results.load_curve import CurvePoint, LoadCurve

TTFT = "mean_ttft_ms"
LATENCY_PANELS = ("mean_ttft_ms", "mean_tpot_ms", "mean_e2el_ms")


def positions(curve: LoadCurve) -> tuple[list[float], bool, float | None]:
    """x of every point, whether the axis is logarithmic, and where rate=inf sits (None: absent)."""
    if curve.load_kind == "concurrency":
        xs = [float(p.concurrency or 0) for p in curve.points]
        return xs, _log(xs), None
    finite = [
        p.request_rate for p in curve.points if p.request_rate is not None and math.isfinite(p.request_rate)
    ]
    q = curve.queueing
    capacities = [v.capacity_qps for v in q.legs.values() if v.capacity_qps] if q and q.supported else []
    span = finite + capacities  # the model's curve runs up to capacity: inf sits past it
    log = _log(span + ([max(span) * 2] if span else []))
    top = max(span) if span else 1.0
    inf_x = top * 2 if log else top * 1.25
    xs = [
        inf_x if p.request_rate is None or math.isinf(p.request_rate) else float(p.request_rate)
        for p in curve.points
    ]
    has_inf = any(p.request_rate is None or math.isinf(p.request_rate) for p in curve.points)
    return xs, log, inf_x if has_inf else None


def _log(xs: Sequence[float]) -> bool:
    pos = [x for x in xs if x > 0]
    return len(pos) >= 2 and max(pos) / min(pos) >= 8


def _axis(ax: Axes, curve: LoadCurve, xs: list[float], log: bool) -> None:
    if log:
        ax.set_xscale("log")
    ax.set_xticks(xs, [p.name.split("=", 1)[-1] for p in curve.points])
    ax.minorticks_off()
    ax.set_xlabel("offered load: concurrency" if curve.load_kind == "concurrency" else "offered load (req/s)")
    ax.grid(alpha=0.3)


def metric_keys(points: Sequence[CurvePoint]) -> list[str]:
    return list(dict.fromkeys(m.metric for p in points for m in p.metrics))


def overhead_vs_load(curve: LoadCurve) -> Figure:
    """One panel per headline metric: overhead (%) against offered load, 95% CI whiskers."""
    keys = metric_keys(curve.points)
    ncols = min(3, max(1, len(keys)))
    nrows = max(1, math.ceil(len(keys) / ncols))
    fig, axes = new_figure(
        f"TEE overhead against load: {curve.model or ''}".rstrip(": "),
        nrows,
        ncols,
        size=(4.6 * ncols, 3.6 * nrows),
    )
    for ax, key in zip(axes, keys, strict=False):
        overhead_panel(ax, curve, key)
        ax.set_title(metric_label(key), fontsize=10)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    return fig


def overhead_panel(ax: Axes, curve: LoadCurve, key: str) -> None:
    """One metric's overhead against offered load; for TTFT also the queueing model."""
    xs, log, _ = positions(curve)
    rows = [p.row(key) for p in curve.points]
    why = "summaries only" if curve.interval.startswith("none") else "one run per leg"
    labels = {True: "measured (95% CI)", False: f"measured, no CI ({why})"}
    for x, r in zip(xs, rows, strict=True):
        if r is None or r.overhead_pct is None:
            continue
        has_ci = r.ci_low is not None and r.ci_high is not None
        label = labels.pop(has_ci, None)  # one legend entry per kind of marker
        if has_ci and r.ci_low is not None and r.ci_high is not None:
            err = [[max(r.overhead_pct - r.ci_low, 0)], [max(r.ci_high - r.overhead_pct, 0)]]
            ax.errorbar([x], [r.overhead_pct], yerr=err, fmt="o", color="#c0392b", capsize=4, label=label)
        else:
            ax.plot([x], [r.overhead_pct], "o", mfc="white", color="#c0392b", label=label)
    valid = [(x, r.overhead_pct) for x, r in zip(xs, rows, strict=True) if r and r.overhead_pct is not None]
    if valid:
        ax.plot(*zip(*valid, strict=True), "-", color="#c0392b", alpha=0.4)
    if key == TTFT:
        _model_on_overhead(ax, curve, xs)
    ax.axhline(0, color="gray", lw=0.8)
    _axis(ax, curve, xs, log)
    ax.set_ylabel("overhead (%)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)


def models_ttft(curves: Sequence[LoadCurve]) -> Figure:
    """Mean TTFT overhead against request rate, one panel per model, with its queueing model."""
    ncols = min(2, max(1, len(curves)))
    nrows = max(1, math.ceil(len(curves) / ncols))
    fig, axes = new_figure("Mean TTFT overhead against load, per model", nrows, ncols,
                           size=(5.6 * ncols, 4.0 * nrows))
    for ax, curve in zip(axes, curves, strict=False):
        overhead_panel(ax, curve, TTFT)
        q = curve.queueing
        why = "" if q is None or q.supported else " (model not supported)"
        ax.set_title(f"{curve.model}{why}", fontsize=10)
    for ax in axes[len(curves) :]:
        ax.set_visible(False)
    return fig


def _model_on_overhead(ax: Axes, curve: LoadCurve, xs: list[float]) -> None:
    q = curve.queueing
    if q is None or not q.supported:
        return
    if q.curve is not None and curve.load_kind == "rate":
        rates = np.array(q.curve.rates)
        ov = ov_or_nan(q.curve.overhead_pct)
        keep = rates > 0
        ax.plot(rates[keep], ov[keep], "--", color="#7d3c98", label="M/G/1 model")
    pred = [
        (x, p.predicted_overhead_pct)
        for x, p in zip(xs, q.points, strict=False)
        if p.predicted_overhead_pct is not None
    ]
    if pred:
        ax.plot(*zip(*pred, strict=True), "x", color="#7d3c98", ms=8, label="model at the point")
    if q.crossing is not None and q.crossing.rate:
        ax.axhline(q.crossing.limit_pct, color="#7d3c98", ls=":", lw=0.8)
        ax.axvline(
            q.crossing.rate,
            color="#7d3c98",
            ls=":",
            lw=0.8,
            label=f"{q.crossing.limit_pct:g}% at {q.crossing.rate:.3g} req/s",
        )
    # the model rises without bound at capacity: keep the measured points readable
    measured = [v for p in q.points for v in (p.measured_overhead_pct, p.ci_high, p.ci_low) if v is not None]
    top = max([*measured, q.crossing.limit_pct if q.crossing else 0.0, 1.0])
    if q.curve is not None and np.nanmax(ov_or_nan(q.curve.overhead_pct), initial=0.0) > 3 * top:
        low = min([*measured, float(np.nanmin(ov_or_nan(q.curve.overhead_pct), initial=0.0)), 0.0])
        ax.set_ylim(low - 0.1 * (2.5 * top - low), 2.5 * top)


def ov_or_nan(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def latency_vs_throughput(curve: LoadCurve) -> Figure:
    """Mean TTFT / TPOT / E2EL against achieved request throughput, per leg: the knee."""
    keys = [k for k in LATENCY_PANELS if any(p.row(k) is not None for p in curve.points)] or [TTFT]
    fig, axes = new_figure(
        f"Latency against throughput: {curve.model or ''}".rstrip(": "),
        1,
        len(keys),
        size=(4.8 * len(keys), 4.0),
    )
    q = curve.queueing
    for ax, key in zip(axes, keys, strict=False):
        values = []
        for i, leg in enumerate(("on", "off")):
            pts = []
            for p in curve.points:
                r = p.row(key)
                qps = getattr(p, leg).qps
                v = None if r is None else (r.on if leg == "on" else r.off)
                if qps is not None and v is not None:
                    pts.append((qps, v, p.name))
            if not pts:
                continue
            x, y, names = zip(*sorted(pts), strict=True)
            values.append(np.array(y))
            ax.plot(x, y, "o-", color=leg_color(leg, i), label=leg_name(leg))
            for xi, yi, name in zip(x, y, names, strict=True):
                ax.annotate(
                    name,
                    (xi, yi),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=7,
                    color=leg_color(leg, i),
                )
            if key == TTFT and q is not None and q.supported and q.curve is not None:
                model = getattr(q.curve, f"ttft_{leg}_ms")
                mx = [r for r, m in zip(q.curve.rates, model, strict=True) if m is not None]
                my = [m for m in model if m is not None]
                ax.plot(mx, my, "--", color=leg_color(leg, i), alpha=0.7, label=f"{leg_name(leg)} M/G/1")
                cap = q.legs[leg].capacity_qps
                if cap:
                    ax.axvline(cap, color=leg_color(leg, i), ls=":", lw=0.8)
        if use_log_scale(values):
            ax.set_yscale("log")
        ax.set_xlabel("achieved throughput (req/s)")
        ax.set_ylabel(metric_label(key))
        ax.set_title(metric_label(key).replace(" (ms)", "") + " vs throughput", fontsize=10)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    return fig
