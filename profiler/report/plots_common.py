"""Shared plotting helpers: figures without pyplot, leg colours, ECDFs, per-leg request frames.

Figures are plain ``matplotlib.figure.Figure`` objects on an Agg canvas: no global pyplot
state, no display needed, safe in a worker thread of the web service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from loadgen.metrics import measured

#: Same colour for a leg in every figure, so a reader learns it once.
LEG_COLORS = {"on": "#c0392b", "off": "#2471a3"}
FALLBACK_COLORS = ["#7d3c98", "#117a65", "#b9770e", "#566573", "#1abc9c", "#a93226"]
LEG_NAMES = {"on": "TEE on", "off": "TEE off"}


def leg_name(label: str) -> str:
    return LEG_NAMES.get(label, label or "run")


def leg_color(label: str, index: int = 0) -> str:
    return LEG_COLORS.get(label, FALLBACK_COLORS[index % len(FALLBACK_COLORS)])


def new_figure(
    title: str, nrows: int = 1, ncols: int = 1, *, size: tuple[float, float] = (10, 6), sharex: bool = False
) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, sharex=sharex, squeeze=False)
    fig.suptitle(title, fontsize=13, fontweight="bold")
    return fig, [ax for row in axes for ax in row]


#: Points drawn per ECDF / scatter. Pooled ITLs of a large run reach millions; a line of more
#: points than pixels only slows the drawing down.
MAX_POINTS = 4000
MAX_SCATTER = 20_000


def ecdf(values: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Sorted values and the fraction of values ≤ each (the empirical CDF).

    Above ``max_points`` values the curve is sampled at evenly spaced ranks, always keeping the
    first and the last (minimum and maximum), which is exact at the drawn resolution.
    """
    x = np.sort(values[~np.isnan(values)])
    y = np.arange(1, x.size + 1) / x.size if x.size else np.empty(0)
    if x.size > max_points:
        idx = np.unique(np.linspace(0, x.size - 1, max_points).round().astype(int))
        x, y = x[idx], y[idx]
    return x, y


def thin(n: int, limit: int = MAX_SCATTER, seed: int = 0) -> np.ndarray:
    """Indices of at most ``limit`` of ``n`` points (seeded: the same report every time)."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Measured (non-warm-up) rows of successful requests."""
    frame = measured(frame)
    return frame[frame["ok"].astype(bool)]


def column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.empty(0)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)


def pooled_itl(frame: pd.DataFrame) -> np.ndarray:
    parts = [np.asarray(v, dtype=float) for v in frame.get("itl_ms", []) if v is not None and len(v)]
    return np.concatenate(parts) if parts else np.empty(0)


def use_log_scale(arrays: list[np.ndarray]) -> bool:
    """Log axis when the data spans more than two decades (queueing tails at rate=inf do)."""
    vals = np.concatenate([a[np.isfinite(a) & (a > 0)] for a in arrays]) if arrays else np.empty(0)
    if vals.size < 2:
        return False
    lo, hi = np.percentile(vals, [1, 100])
    return bool(lo > 0 and hi / lo > 100)


def legend_if_any(ax: Axes, **kwargs: Any) -> None:
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(**kwargs)


def no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what}", ha="center", va="center", transform=ax.transAxes, color="gray")


Legs = Mapping[str, pd.DataFrame]
