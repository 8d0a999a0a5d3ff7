"""Latency and overhead figures: CDFs per leg, latency against token counts, overhead bars
with confidence intervals, and the token-volume law (per-bucket overhead + fitted curve).

Each function takes plain data (request frames per leg, comparison.json fragments) and
returns a Figure with a title, axis labels with units and a legend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from profiler.report import fits
from profiler.report.plots_common import (
    Legs,
    column,
    ecdf,
    leg_color,
    leg_name,
    legend_if_any,
    new_figure,
    no_data,
    ok_rows,
    pooled_itl,
    thin,
    use_log_scale,
)
from profiler.report.text import metric_label
from profiler.results.comparison import MetricRow, PaperLeg, TokenVolume, VolumeBin
from profiler.results.decomposition import Decomposition

CDF_PANELS = (
    ("ttft_ms", "TTFT", "time to first token (ms)", "fraction of requests ≤ x"),
    ("tpot_ms", "TPOT", "time per output token (ms)", "fraction of requests ≤ x"),
    ("itl_ms", "ITL", "inter-token latency (ms)", "fraction of token gaps ≤ x"),
    ("e2el_ms", "E2E latency", "end-to-end latency (ms)", "fraction of requests ≤ x"),
)


def latency_cdfs(legs: Legs, title: str = "Latency distributions (empirical CDF)") -> Figure:
    fig, axes = new_figure(title, 2, 2, size=(11, 7.5))
    for ax, (col, name, xlabel, ylabel) in zip(axes, CDF_PANELS, strict=False):
        series = {}
        for label, frame in legs.items():
            ok = ok_rows(frame)
            series[label] = pooled_itl(ok) if col == "itl_ms" else column(ok, col)
        for i, (label, values) in enumerate(series.items()):
            x, y = ecdf(values)
            n = int(np.isfinite(values).sum())
            if x.size:
                ax.step(
                    x,
                    y,
                    where="post",
                    color=leg_color(label, i),
                    lw=1.6,
                    label=f"{leg_name(label)} (n={n:,})",
                )
        if not any(v[~np.isnan(v)].size for v in series.values()):
            no_data(ax, name)
        if use_log_scale(list(series.values())):
            ax.set_xscale("log")
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        legend_if_any(ax, loc="lower right", fontsize=8)
    return fig


def latency_vs_tokens(legs: Legs, title: str = "Latency against token counts") -> Figure:
    """TTFT against input tokens (prefill) and TPOT against output tokens (decode)."""
    fig, axes = new_figure(title, 1, 2, size=(11, 4.8))
    panels = (
        ("input_tokens", "ttft_ms", "input tokens per request", "TTFT (ms)", "TTFT vs input tokens"),
        ("output_tokens", "tpot_ms", "output tokens per request", "TPOT (ms)", "TPOT vs output tokens"),
    )
    for ax, (xcol, ycol, xlabel, ylabel, sub) in zip(axes, panels, strict=False):
        plotted = False
        for i, (label, frame) in enumerate(legs.items()):
            ok = ok_rows(frame)
            x, y = column(ok, xcol), column(ok, ycol)
            keep = np.isfinite(x) & np.isfinite(y)
            if keep.any():
                x, y = x[keep], y[keep]
                shown = thin(x.size)
                note = f", {shown.size:,} drawn" if shown.size < x.size else ""
                ax.scatter(
                    x[shown],
                    y[shown],
                    s=9,
                    alpha=0.45,
                    color=leg_color(label, i),
                    label=f"{leg_name(label)} (n={x.size:,}{note})",
                    edgecolors="none",
                )
                plotted = True
        if not plotted:
            no_data(ax, "requests with both values")
        ax.set_title(sub)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        legend_if_any(ax, fontsize=8, markerscale=2)
    return fig


def overhead_bars(rows: Sequence[MetricRow], title: str = "TEE overhead per metric (95% CI)") -> Figure:
    """Horizontal bars: overhead % per metric with its confidence interval; 0 marked."""
    rows = [r for r in rows if r.overhead_pct is not None]
    fig, axes = new_figure(title, size=(10, max(3.0, 0.38 * len(rows) + 1.6)))
    ax = axes[0]
    if not rows:
        no_data(ax, "overheads")
    ys = np.arange(len(rows))[::-1]
    for y, row in zip(ys, rows, strict=False):
        value = float(row.overhead_pct or 0.0)
        lo, hi = row.ci_low, row.ci_high
        sig = bool(row.significant)
        color = "#c0392b" if sig else "#95a5a6"
        label = "significant (CI excludes 0)" if sig else "not significant"
        ax.barh(y, value, color=color, alpha=0.85, label=label)
        if lo is not None and hi is not None:
            interval(ax, [y], [lo], [hi], horizontal=True, color="black", label="95% CI")
    _overhead_axes(ax, ys, [r.metric for r in rows], "the TEE")
    return fig


def token_volume(tv: TokenVolume | None, title: str = "Overhead against tokens per request") -> Figure:
    """Per-bucket overhead with CI error bars, and the fitted token-volume curve when present."""
    fig, axes = new_figure(title, size=(10, 5.2))
    ax = axes[0]
    bins = [b for b in (tv.bins if tv else []) if b.overhead_pct is not None]
    xs = [_bin_center(b) for b in bins]
    if bins:
        ys = np.array([float(b.overhead_pct or 0.0) for b in bins])
        ax.plot(xs, ys, "o", color="#c0392b", label="per-bucket overhead")
        interval(ax, xs, [b.ci_low for b in bins], [b.ci_high for b in bins], color="#555", label="95% CI")
        for x, b, y in zip(xs, bins, ys, strict=False):
            ax.annotate(
                f"n={b.n_on}/{b.n_off}",
                (x, y),
                fontsize=7,
                textcoords="offset points",
                xytext=(6, 6),
                color="#555",
            )
    fit = tv.fit if tv else None
    curve = fits.curve(fit, xs) if fit else None
    if curve is not None and fit is not None:
        cx, cy = curve
        r2 = [v for v in (fit.r2_on, fit.r2_off) if v is not None]
        r2_text = " (R² " + " / ".join(f"{float(v):.2f}" for v in r2) + ")" if r2 else ""
        ax.plot(cx, cy, color="#2471a3", lw=2, label=f"fit: {fits.describe(fit)}{r2_text}")
    shade = fits.band(fit)
    if shade is not None:
        ax.fill_between(shade[0], shade[1], shade[2], color="#2471a3", alpha=0.15, label="fit: 95% band")
    alt = fit.alternative if fit else None
    alt_curve = fits.curve(alt, xs, fit.token_range if fit else None) if alt else None
    if alt_curve is not None and alt is not None:
        ax.plot(*alt_curve, color="#7d3c98", lw=1.5, ls="--", label=f"alternative fit: {fits.describe(alt)}")
    for level, style in ((5, ":"), (1, "--")):
        cross = (fit.tokens_below_5pct if level == 5 else fit.tokens_below_1pct) if fit else None
        if cross is not None and math.isfinite(float(cross)):
            ax.axvline(
                float(cross),
                color="#117a65",
                ls=style,
                lw=1,
                label=f"overhead < {level}% from {float(cross):,.0f} tokens",
            )
    if not bins and curve is None:
        reason = (tv.reason if tv else None) or "no token-volume data"
        no_data(ax, f"token-volume data ({reason})")
    ax.axhline(0, color="black", lw=0.8)
    if xs and max(xs) / max(min(xs), 1) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("tokens per request, input + output (tokens)")
    ax.set_ylabel("overhead (%) — positive means the TEE costs")
    ax.grid(alpha=0.3)
    legend_if_any(ax, fontsize=8)
    return fig


def models_overheads(
    table: Sequence[Mapping[str, Any]], metrics: Sequence[str], title: str = "TEE overhead per model"
) -> Figure:
    """Grouped bars: one group per model, one bar per metric; CIs drawn where they exist."""
    models = [str(r["model"]) for r in table]
    fig, axes = new_figure(title, size=(max(11.0, 0.75 * len(models)), 6))
    ax = axes[0]
    width = 0.8 / max(len(metrics), 1)
    x = np.arange(len(models))
    palette = ["#c0392b", "#2471a3", "#117a65", "#b9770e", "#7d3c98", "#566573"]
    for j, metric in enumerate(metrics):
        cells = [(r.get("metrics") or {}).get(metric) or {} for r in table]
        vals = [np.nan if c.get("overhead_pct") is None else float(c["overhead_pct"]) for c in cells]
        pos = x + (j - (len(metrics) - 1) / 2) * width
        ax.bar(pos, vals, width, color=palette[j % len(palette)], label=metric_label(metric))
        interval(
            ax,
            list(pos),
            [c.get("ci_low") for c in cells],
            [c.get("ci_high") for c in cells],
            color="black",
            label="95% CI",
        )
    if len(models) > 4:  # long names: slanted, anchored at their right end under the group
        ax.set_xticks(x, models, rotation=35, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticks(x, models)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("model @ load point" if any("@" in m for m in models) else "model")
    ax.set_ylabel("overhead (%) — positive means the TEE costs")
    ax.grid(axis="y", alpha=0.3)
    _dedupe_legend(ax)
    return fig


def interval(
    ax: Any,
    pos: Sequence[float],
    lows: Sequence[Any],
    highs: Sequence[Any],
    *,
    horizontal: bool = False,
    color: str = "black",
    label: str = "95% CI",
) -> None:
    """Whiskers spanning [low, high] wherever both exist.

    Drawn as the interval itself, not as errors around the point: a percentile bootstrap CI
    need not contain the point estimate, and errorbar() rejects negative lengths.
    """
    keep = [
        (p, float(lo), float(hi))
        for p, lo, hi in zip(pos, lows, highs, strict=True)
        if lo is not None and hi is not None
    ]
    if not keep:
        return
    p = np.array([k[0] for k in keep], dtype=float)
    lo = np.array([k[1] for k in keep])
    hi = np.array([k[2] for k in keep])
    mid, half = (lo + hi) / 2, np.abs(hi - lo) / 2
    if horizontal:
        ax.errorbar(mid, p, xerr=half, fmt="none", ecolor=color, capsize=3, lw=1, label=label)
    else:
        ax.errorbar(p, mid, yerr=half, fmt="none", ecolor=color, capsize=3, lw=1, label=label)


def _bin_center(b: VolumeBin) -> float:
    return float(b.median_tokens)  # where the bin's requests really are


def _overhead_axes(ax: Any, ys: Any, metrics: list[str], who: str) -> None:
    """The frame of a horizontal overhead chart: metric labels, the zero line, axis titles."""
    ax.set_yticks(ys, [metric_label(m) for m in metrics])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"overhead (%) — positive means {who} costs")
    ax.set_ylabel("metric")
    ax.grid(axis="x", alpha=0.3)
    _dedupe_legend(ax)


def _dedupe_legend(ax: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, Any] = {}
    for h, lab in zip(handles, labels, strict=False):
        seen.setdefault(lab, h)
    if seen:
        ax.legend(seen.values(), seen.keys(), fontsize=8, loc="best")


def paper_tps_vs_tokens(
    points: Mapping[str, tuple[np.ndarray, np.ndarray]],
    buckets: Mapping[str, PaperLeg] | None = None,
    title: str = "Per-request decode rate against tokens (arXiv:2409.03992 view)",
) -> Figure:
    """The reference study's figure: each request's output tokens / Σ ITL against its input +
    output tokens, both legs overlaid; bucket means (short/medium/long) as horizontal segments."""
    fig, axes = new_figure(title, size=(11, 5.2))
    ax = axes[0]
    for i, (label, (tokens, tps)) in enumerate(points.items()):
        keep = np.isfinite(tokens) & np.isfinite(tps)
        n = int(keep.sum())
        shown = thin(n)
        ax.scatter(tokens[keep][shown], tps[keep][shown], s=9, alpha=0.4, color=leg_color(label, i),
                   edgecolors="none", label=f"{leg_name(label)} requests (n={n:,})")  # fmt: skip
    spans: dict[str, tuple[float, float | None]] = {
        "short": (1, 100),
        "medium": (101, 500),
        "long": (501, None),
    }
    for i, (label, view) in enumerate((buckets or {}).items()):
        for name, (lo, hi) in spans.items():
            b = view.buckets.get(name)
            if b is None or b.tps is None:
                continue
            data = points[label][0] if label in points else np.array([float(lo)])
            lo = max(lo, float(np.nanmin(data)))  # the axis is logarithmic: start where data does
            top = hi if hi is not None else max(float(np.nanmax(data)), lo * 2)
            # one legend entry per leg: matplotlib skips labels that start with an underscore
            tag = f"{leg_name(label)} bucket mean (short/medium/long)" if name == "short" else "_bucket"
            ax.hlines(float(b.tps), lo, top, colors=leg_color(label, i), lw=2.5, label=tag)
    ax.set_xscale("log")
    ax.set_xlabel("tokens per request, input + output (tokens, log scale)")
    ax.set_ylabel("decode rate: output tokens / Σ ITL (tokens/s)")
    ax.grid(alpha=0.3)
    legend_if_any(ax, fontsize=8, markerscale=2)
    return fig


def stacked_increments(d: Decomposition, title: str = "Overhead by step (95% CI)") -> Figure:
    """One bar per metric, its steps stacked (bare → CPU TEE → + GPU CC); each step's whisker is
    its own CI at the end of its segment; a diamond marks the total with its CI."""
    rows = [r for r in d.metrics if r.total.overhead_pct is not None]
    fig, axes = new_figure(title, size=(10, max(3.0, 0.6 * len(rows) + 1.8)))
    ax = axes[0]
    if not rows:
        no_data(ax, "decomposed metrics")
    palette = ["#2471a3", "#c0392b", "#117a65", "#b9770e", "#7d3c98"]
    ys = np.arange(len(rows))[::-1]
    for y, row in zip(ys, rows, strict=False):
        left = 0.0
        for k, s in enumerate(row.steps):
            v = float(s.overhead_pct or 0.0)
            color = palette[k % len(palette)]
            ax.barh(y, v, left=left, color=color, alpha=0.85, label=f"{s.leg} vs {s.reference}")
            if s.ci_low is not None and s.ci_high is not None:
                interval(ax, [y], [left + s.ci_low], [left + s.ci_high], horizontal=True, color="black",
                         label="95% CI of the step")
            left += v
        t = row.total
        ax.plot([float(t.overhead_pct or 0.0)], [y], "D", color="black", label="total")
        if t.ci_low is not None and t.ci_high is not None:
            ax.hlines(y + 0.3, t.ci_low, t.ci_high, colors="#555", lw=2, label="95% CI of the total")
    _overhead_axes(ax, ys, [r.metric for r in rows], "the step")
    return fig
