"""Figures over time: a run's throughput, in-flight concurrency and client lag; GPU telemetry.

Time is seconds since each leg's first send (perf_counter_ns differences only, DESIGN §3),
so the legs overlay even though they ran at different moments.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from loadgen.metrics import NS_PER_MS, NS_PER_S, measured
from profiler.report.plots_common import (
    Legs,
    leg_color,
    leg_name,
    legend_if_any,
    new_figure,
    no_data,
)


def token_times_s(frame: pd.DataFrame, start_ns: float) -> tuple[np.ndarray, np.ndarray]:
    """Arrival time (s) of every content event and the tokens it carried.

    Events are rebuilt exactly from first_ns + cumulative ITLs; a request's tokens are spread
    evenly over its events (an event may carry more than one token).
    """
    times: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for first, itl, n in zip(frame["first_ns"], frame["itl_ms"], frame["output_tokens"], strict=False):
        if first is None or pd.isna(first) or first <= 0:
            continue
        gaps = np.asarray(itl if itl is not None else [], dtype=float)
        events = np.concatenate([[0.0], np.cumsum(gaps) * NS_PER_MS]) + float(first)
        tokens = float(n) if n is not None and not pd.isna(n) and n > 0 else float(events.size)
        times.append((events - start_ns) / NS_PER_S)
        weights.append(np.full(events.size, tokens / events.size))
    if not times:
        return np.empty(0), np.empty(0)
    return np.concatenate(times), np.concatenate(weights)


def in_flight(frame: pd.DataFrame, start_ns: float) -> tuple[np.ndarray, np.ndarray]:
    """Step function of requests between send and end (end_ns, else last_ns)."""
    sent = pd.to_numeric(frame["sent_ns"], errors="coerce")
    end = pd.to_numeric(frame["end_ns"], errors="coerce") if "end_ns" in frame else None
    last = pd.to_numeric(frame["last_ns"], errors="coerce")
    end = last if end is None else end.where(end.notna() & (end > 0), last)
    keep = sent.notna() & (sent > 0) & end.notna() & (end > 0)
    if not keep.any():
        return np.empty(0), np.empty(0)
    t = np.concatenate([sent[keep].to_numpy(float), end[keep].to_numpy(float)])
    d = np.concatenate([np.ones(int(keep.sum())), -np.ones(int(keep.sum()))])
    order = np.lexsort((d, t))  # at equal times, ends (−1) before sends (+1)
    return (t[order] - start_ns) / NS_PER_S, np.cumsum(d[order])


def start_ns(frame: pd.DataFrame) -> float | None:
    """The leg's first send (perf_counter_ns), the zero of every time axis; None if none was sent."""
    sent = pd.to_numeric(frame["sent_ns"], errors="coerce")
    sent = sent[sent > 0]
    return float(sent.min()) if not sent.empty else None


def timeline(legs: Legs, title: str = "Timeline: throughput, concurrency and client lag") -> Figure:
    fig, axes = new_figure(title, 3, 1, size=(11, 8.5), sharex=True)
    ax_tps, ax_conc, ax_lag = axes
    any_data = False
    for i, (label, raw) in enumerate(legs.items()):
        frame = measured(raw)
        start = start_ns(frame)
        if start is None:
            continue
        any_data = True
        color, name = leg_color(label, i), leg_name(label)
        ok = frame[frame["ok"].astype(bool)]
        t, w = token_times_s(ok, start)
        if t.size:
            span = max(float(t.max()), 1e-3)
            width = float(np.clip(span / 60, 0.05, 10.0))
            edges = np.arange(0, span + width, width)
            counts, _ = np.histogram(t, bins=edges, weights=w)
            ax_tps.step(
                edges[:-1],
                counts / width,
                where="post",
                color=color,
                lw=1.4,
                label=f"{name} ({width:.2g} s bins)",
            )
        ct, cn = in_flight(frame, start)
        if ct.size:
            ax_conc.step(ct, cn, where="post", color=color, lw=1.4, label=name)
        sent = pd.to_numeric(frame["sent_ns"], errors="coerce")
        sched = pd.to_numeric(frame["scheduled_ns"], errors="coerce")
        keep = sent.notna() & (sent > 0) & sched.notna()
        if keep.any():
            lag_ms = ((sent[keep] - sched[keep]) / NS_PER_MS).to_numpy(float)
            ax_lag.scatter(
                (sched[keep].to_numpy(float) - start) / NS_PER_S,
                lag_ms,
                s=7,
                alpha=0.5,
                color=color,
                edgecolors="none",
                label=f"{name} (p99 {np.percentile(lag_ms, 99):.2f} ms)",
            )
    if not any_data:
        for ax in axes:
            no_data(ax, "sent requests")
    ax_tps.set_title("output throughput")
    ax_tps.set_ylabel("output tokens/s")
    ax_conc.set_title("requests in flight (sent, not yet finished)")
    ax_conc.set_ylabel("requests in flight")
    ax_lag.set_title("client lag: actual send − scheduled send (the load generator's own lateness)")
    ax_lag.set_ylabel("client lag (ms)")
    ax_lag.set_xlabel("time since the leg's first request (s)")
    for ax in axes:
        ax.grid(alpha=0.3)
        legend_if_any(ax, fontsize=8, loc="upper right")
    return fig


#: Panels of telemetry.parquet (profiler.telemetry.sampler columns), in order of interest:
#: (candidate columns, panel title, y label). The first candidate with data is drawn.
TELEMETRY_PANELS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("gpu_util_pct", "gpm_sm_util_pct"), "GPU utilisation (share of time a kernel ran)", "utilisation (%)"),
    (("power_w",), "GPU power", "power (W)"),
    (("mem_used_mib",), "GPU memory used", "memory (MiB)"),
    (("pcie_tx_kbps", "gpm_pcie_tx_mibps"), "PCIe transmit", "PCIe TX (as sampled: KB/s or MiB/s)"),
    (("sm_clock_mhz",), "SM clock", "clock (MHz)"),
)
MAX_PANELS = 4
TIME_COLUMN = "t_ns"  # perf_counter_ns, the clock of requests.parquet (DESIGN §3)
GROUP_COLUMN = "gpu"


def telemetry_panels(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(column, title, y label) of the panels with data, at most MAX_PANELS."""
    chosen = []
    for candidates, title, ylabel in TELEMETRY_PANELS:
        col = next((c for c in candidates if c in table.columns and table[c].notna().any()), None)
        if col is not None:
            unit = (
                "PCIe TX (KB/s)"
                if col == "pcie_tx_kbps"
                else "PCIe TX (MiB/s)"
                if col.endswith("mibps")
                else ylabel
            )
            chosen.append((col, f"{title}: {col}", unit))
    return chosen[:MAX_PANELS]


def telemetry(
    tables: Mapping[str, pd.DataFrame],
    starts: Mapping[str, float] | None = None,
    title: str = "GPU telemetry over time",
) -> Figure:
    """One panel per sampled quantity; one line per leg (and per GPU when there are several).

    Samples carry perf_counter_ns like the requests, so with ``starts`` (each leg's first
    send) the time axis lines up with the timeline figure.
    """
    first = next((t for t in tables.values() if t is not None and not t.empty), None)
    panels = telemetry_panels(first) if first is not None else []
    n = max(len(panels), 1)
    fig, axes = new_figure(title, n, 1, size=(11, 2.3 * n + 1.2), sharex=True)
    xlabel = "time since the leg's first request (s)" if starts else "time since the first sample (s)"
    axes[-1].set_xlabel(xlabel)
    if not panels:
        no_data(axes[0], "telemetry values")
        return fig
    for i, (label, table) in enumerate(tables.items()):
        if TIME_COLUMN not in table.columns:
            continue
        t_ns = pd.to_numeric(table[TIME_COLUMN], errors="coerce").to_numpy(float)
        zero = (starts or {}).get(label, float(np.nanmin(t_ns)))
        t = (t_ns - zero) / NS_PER_S
        gpus = table[GROUP_COLUMN].to_numpy() if GROUP_COLUMN in table.columns else np.zeros(len(table))
        several = len(set(gpus.tolist())) > 1
        for gpu in sorted(set(gpus.tolist())):
            sel = gpus == gpu
            suffix = f" GPU {gpu}" if several else ""
            for ax, (col, _, _) in zip(axes, panels, strict=False):
                if col in table.columns:
                    values = pd.to_numeric(table[col], errors="coerce").to_numpy(float)
                    ax.plot(
                        t[sel],
                        values[sel],
                        lw=1.3,
                        color=leg_color(label, i),
                        label=f"{leg_name(label)}{suffix}",
                    )
    for ax, (_, sub, ylabel) in zip(axes, panels, strict=False):
        ax.set_title(sub)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        legend_if_any(ax, fontsize=8, loc="upper right")
    return fig
