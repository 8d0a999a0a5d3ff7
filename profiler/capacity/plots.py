"""The Pareto view of a sweep: throughput against latency per leg, SLO lines, operating points.

One panel per latency statistic (the SLO ones, else p99 TTFT / TPOT / E2EL). x = request
throughput (req/s), y = the statistic (ms); each leg is a line through its load points (labelled
with their load), the SLO is a dashed horizontal line, the chosen operating point a star.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never open a window (servers, CI)
import matplotlib.pyplot as plt

from profiler.capacity.points import DEFAULT_METRICS, LoadPoint, SloStat
from profiler.capacity.slo import Capacity, Slos

LEG_STYLE = {"on": ("#c0392b", "TEE on"), "off": ("#2471a3", "TEE off")}


def _lerp_value(points: Sequence[LoadPoint], cap: Capacity, metric: SloStat) -> float | None:
    if cap.lo is None or cap.hi is None or cap.fraction is None:
        return None
    a, b = points[cap.lo].value(metric), points[cap.hi].value(metric)
    return float(a + cap.fraction * (b - a))


def pareto_plot(
    legs: Mapping[str, Sequence[LoadPoint]],
    path: Path,
    *,
    slos: Slos | None = None,
    capacities: Mapping[str, Capacity] | None = None,
    mode: str = "concurrency",
    title: str = "",
) -> Path:
    """Write the PNG and return its path."""
    metrics = list(slos.limits) if slos else list(DEFAULT_METRICS)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.4), squeeze=False)
    load_name = "c" if mode == "concurrency" else "rate "
    for ax, metric in zip(axes[0], metrics, strict=False):
        for label, points in legs.items():
            color, name = LEG_STYLE.get(label, (None, label))
            xs = [p.qps for p in points]
            ys = [p.value(metric) for p in points]
            ax.plot(xs, ys, "o-", color=color, label=name)
            for p, x, y in zip(points, xs, ys, strict=False):
                ax.annotate(f"{load_name}{p.load:g}", (x, y), textcoords="offset points", xytext=(4, 4),
                            fontsize=7, color=color)
            cap = (capacities or {}).get(label)
            if cap is not None and cap.qps is not None:
                y_op = _lerp_value(points, cap, metric)
                if y_op is not None:
                    ax.plot([cap.qps], [y_op], "*", markersize=15, color=color, markeredgecolor="black",
                            label=f"{name} operating point: {cap.qps:.3g} req/s ({cap.kind})")
        if slos and metric in slos.limits:
            limit = slos.limits[metric]
            ax.axhline(limit, linestyle="--", color="gray", label=f"SLO {limit:g} ms")
        ax.set_xlabel("request throughput (req/s)")
        ax.set_ylabel(metric.label)
        ax.set_title(metric.label.replace(" (ms)", "") + " vs throughput")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title or "Throughput–latency per leg (Pareto view)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
