"""Where the time and the energy of a run went: pure functions over a run directory.

``breakdown(run)`` reads requests.parquet, telemetry.parquet (NVML), gpu_util_samples.parquet
and server_metrics.parquet and returns:

- ``gpu``: busy fraction over the measurement window (NVML "utilization.gpu" is the share of
  time a kernel was running: this is the "GPU time dominance" the reference study claimed but
  never measured), energy (delta of the driver's energy counter) and energy per output token,
  mean power, SM clock, clock-event reasons seen, CC protected memory, GPM metrics;
- ``latency_split``: mean ms per request of client/network, server queue, prefill and decode.
  Queue/prefill/decode come from vLLM's histograms (delta over the window); client/network is
  the client's mean E2EL minus their sum (HTTP, API server, (de)tokenisation, network, client).

``compare_breakdowns(on, off)`` says which component grew and by how much.
Missing inputs give None with a reason, never a number made up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from profiler.store import Run, read_run
from profiler.telemetry.scrape import gauge_stats, histogram_deltas

CLOCK_EVENT_BITS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
COMPONENTS = ("client_network_ms", "queue_ms", "prefill_ms", "decode_ms")
MIN_UTIL_SAMPLES = 5  # fewer driver samples in the window: use the per-tick readings instead


def _measured(requests: pd.DataFrame) -> pd.DataFrame:
    f = requests
    if "warmup" in f.columns:
        f = f[~f["warmup"].astype(bool)]
    if "ok" in f.columns:
        f = f[f["ok"].astype(bool)]
    return f


def window_ns(requests: pd.DataFrame) -> tuple[int, int] | None:
    """(first send, last content event) of the measured, successful requests."""
    f = _measured(requests).dropna(subset=["sent_ns", "last_ns"])
    if f.empty:
        return None
    return int(f["sent_ns"].min()), int(f["last_ns"].max())


def clock_event_names(mask: int) -> list[str]:
    return [name for bit, name in CLOCK_EVENT_BITS.items() if mask & bit]


def _in(frame: pd.DataFrame, t0: int, t1: int) -> pd.DataFrame:
    return frame[(frame["t_ns"] >= t0) & (frame["t_ns"] <= t1)]


def _mean(series: pd.Series) -> float | None:
    s = series.dropna()
    return float(s.mean()) if not s.empty else None


def gpu_section(
    telemetry: pd.DataFrame | None,
    util_samples: pd.DataFrame | None,
    t0: int,
    t1: int,
    output_tokens: int,
    field_reasons: dict[str, str] | None = None,
) -> dict[str, Any]:
    reasons = dict(field_reasons or {})
    if telemetry is None or telemetry.empty:
        return {"available": False, "reason": reasons.get("nvml", "no telemetry.parquet (no GPU)")}
    win = _in(telemetry, t0, t1)
    if win.empty:
        return {"available": False, "reason": "no NVML sample inside the measurement window"}
    per_gpu: list[dict[str, Any]] = []
    for gpu, g in win.groupby("gpu"):
        g = g.sort_values("t_ns")
        d: dict[str, Any] = {"gpu": int(gpu), "samples": len(g)}  # type: ignore[arg-type]
        busy, source = None, None
        if util_samples is not None and not util_samples.empty:
            u = _in(util_samples[util_samples["gpu"] == gpu], t0, t1)
            if len(u) >= MIN_UTIL_SAMPLES:
                busy, source = float(u["util_pct"].mean()) / 100.0, "nvmlDeviceGetSamples"
        if busy is None:
            m = _mean(g["gpu_util_pct"])
            busy = m / 100.0 if m is not None else None
            source = "nvmlDeviceGetUtilizationRates" if m is not None else None
        d["busy_fraction"], d["busy_source"] = busy, source
        d.update(_energy(g, reasons))
        d["mean_power_w"] = _mean(g["power_w"])
        d["mean_sm_clock_mhz"] = _mean(g["sm_clock_mhz"])
        masks = g["clock_event_reasons"].dropna().astype(int)
        d["clock_events"] = sorted({n for m in masks for n in clock_event_names(int(m))})
        d["max_mem_used_mib"] = float(g["mem_used_mib"].max()) if g["mem_used_mib"].notna().any() else None
        d["max_cc_protected_used_mib"] = (
            float(g["cc_protected_used_mib"].max()) if g["cc_protected_used_mib"].notna().any() else None
        )
        for col in ("gpm_sm_util_pct", "gpm_tensor_util_pct", "gpm_dram_bw_util_pct",
                    "pcie_tx_kbps", "pcie_rx_kbps"):
            d[f"mean_{col}"] = _mean(g[col])
        per_gpu.append(d)
    fractions = [float(d["busy_fraction"]) for d in per_gpu if d["busy_fraction"] is not None]
    energy = [d["energy_j"] for d in per_gpu if d["energy_j"] is not None]
    total_j = float(sum(energy)) if len(energy) == len(per_gpu) else None
    return {
        "available": True,
        "gpus": per_gpu,
        "busy_fraction": float(np.mean(fractions)) if fractions else None,
        "busy_fraction_min": min(fractions) if fractions else None,
        "energy_j": total_j,
        "energy_per_output_token_j": total_j / output_tokens if total_j is not None and output_tokens
        else None,
        "unavailable": {k: v for k, v in reasons.items() if v != "ok"},
    }


def _energy(g: pd.DataFrame, reasons: dict[str, str]) -> dict[str, Any]:
    """Joules over the window: the energy counter's delta, else the integral of power."""
    e = g.dropna(subset=["energy_mj"])
    if len(e) >= 2:
        return {"energy_j": float(e["energy_mj"].iloc[-1] - e["energy_mj"].iloc[0]) / 1000.0,
                "energy_method": "nvmlDeviceGetTotalEnergyConsumption delta"}
    p = g.dropna(subset=["power_w"])
    if len(p) >= 2:
        t = p["t_ns"].to_numpy(dtype=float) / 1e9
        w = p["power_w"].to_numpy(dtype=float)
        return {"energy_j": float(np.sum((w[1:] + w[:-1]) / 2 * np.diff(t))),
                "energy_method": "power integral (energy counter unavailable)"}
    why = reasons.get("energy_mj", "fewer than two energy/power samples in the window")
    return {"energy_j": None, "energy_method": None, "energy_reason": why}


def _scrape_bounds(frame: pd.DataFrame, t0: int, t1: int) -> tuple[int, int]:
    """The last scrape at or before t0 and the first at or after t1 (else the extremes)."""
    ts = np.sort(frame["t_ns"].unique())
    before, after = ts[ts <= t0], ts[ts >= t1]
    return int(before[-1] if before.size else ts[0]), int(after[0] if after.size else ts[-1])


def latency_split(
    requests: pd.DataFrame, server_metrics: pd.DataFrame | None, t0: int, t1: int,
    warmup: pd.DataFrame | None = None,
) -> dict[str, Any]:
    f = _measured(requests)
    out: dict[str, Any] = {
        "client_e2el_ms": _mean(f["e2el_ms"]),
        "client_ttft_ms": _mean(f["ttft_ms"]),
        "completed": len(f),
    }
    if server_metrics is None or server_metrics.empty:
        return {**out, "available": False, "reason": "no server_metrics.parquet (no /metrics scrape)"}
    a, b = _scrape_bounds(server_metrics, t0, t1)
    hist = histogram_deltas(server_metrics, a, b)
    parts = {"queue_ms": "request_queue_time_seconds", "prefill_ms": "request_prefill_time_seconds",
             "decode_ms": "request_decode_time_seconds"}
    missing = [h for h in parts.values() if h not in hist or hist[h]["mean_ms"] is None]
    out["server_requests_counted"] = hist.get("request_queue_time_seconds", {}).get("count")
    out["server"] = hist
    out["gauges"] = gauge_stats(server_metrics, a, b)
    if missing:
        return {**out, "available": False, "reason": f"no delta for {', '.join(missing)}"}
    for key, h in parts.items():
        out[key] = hist[h]["mean_ms"]
    server_total = out["queue_ms"] + out["prefill_ms"] + out["decode_ms"]
    out["server_ms"] = server_total
    e2el = out["client_e2el_ms"]
    out["client_network_ms"] = e2el - server_total if e2el is not None else None
    ttft = hist.get("time_to_first_token_seconds", {}).get("mean_ms")
    out["server_ttft_ms"] = ttft
    if ttft is not None and out["client_ttft_ms"] is not None:
        out["ttft_client_network_ms"] = out["client_ttft_ms"] - ttft
    counted = out["server_requests_counted"]
    if counted is not None and counted != len(f):
        out["warning"] = (f"server counted {counted:g} requests in the window, the client "
                          f"{len(f)}: other traffic, warm-up or failures blur the split")
        late = _late_warmup(warmup, a)
        if late and counted == len(f) + late:
            out["warning"] = (f"server counted {counted:g} requests, the client {len(f)}: the "
                              f"{late} extra are warm-up requests that ended after the opening "
                              "scrape; their times are mixed into the server means")
    out["available"] = True
    return out


def _late_warmup(warmup: pd.DataFrame | None, opening_scrape_ns: int) -> int:
    if warmup is None or warmup.empty or "last_ns" not in warmup.columns:
        return 0
    return int((warmup["last_ns"].dropna() > opening_scrape_ns).sum())


def _field_reasons(run: Run) -> dict[str, str]:
    tele = run.manifest.telemetry or {}
    nvml = tele.get("nvml") or {}
    reasons = dict(nvml.get("fields") or {})
    if nvml.get("reason"):
        reasons["nvml"] = str(nvml["reason"])
    return reasons


def breakdown(run: Run | Path | str) -> dict[str, Any]:
    r = run if isinstance(run, Run) else read_run(Path(run))
    requests = r.table("requests")
    if requests is None:  # a suite run (results.parquet) has no per-request timing
        return {"run_id": r.run_id, "available": False, "reason": "the run has no requests.parquet"}
    win = window_ns(requests)
    if win is None:
        ok = _measured(requests)
        why = ("no request carries send/last-token timestamps (an imported run?)" if len(ok)
               else "no successful measured request")
        return {"run_id": r.run_id, "available": False, "reason": why}
    t0, t1 = win
    tokens = int(_measured(requests)["output_tokens"].fillna(0).sum())
    return {
        "run_id": r.run_id,
        "label": r.label,
        "available": True,
        "window_s": (t1 - t0) / 1e9,
        "output_tokens": tokens,
        "gpu": gpu_section(r.table("telemetry"), r.table("gpu_util_samples"), t0, t1, tokens,
                           _field_reasons(r)),
        "latency_split": latency_split(requests, r.table("server_metrics"), t0, t1,
                                       r.table("warmup")),
    }


def _pct(on: float | None, off: float | None) -> float | None:
    if on is None or off is None or off == 0:
        return None
    return 100.0 * (on - off) / off


def compare_breakdowns(on: dict[str, Any], off: dict[str, Any]) -> dict[str, Any]:
    """Per latency component: on, off, delta ms, delta %, share of the E2EL growth.

    ``grew_most`` names the component with the largest increase in ms (None when the split is
    unavailable on either leg). GPU busy fraction and energy per token are compared too.
    """
    ls_on, ls_off = on.get("latency_split", {}), off.get("latency_split", {})
    out: dict[str, Any] = {"components": {}, "grew_most": None}
    if ls_on.get("available") and ls_off.get("available"):
        total = (ls_on["client_e2el_ms"] or 0.0) - (ls_off["client_e2el_ms"] or 0.0)
        out["e2el_delta_ms"] = total
        for c in COMPONENTS:
            a, b = ls_on.get(c), ls_off.get(c)
            delta = a - b if a is not None and b is not None else None
            out["components"][c] = {
                "on": a, "off": b, "delta_ms": delta, "delta_pct": _pct(a, b),
                "share_of_growth": delta / total if delta is not None and total else None,
            }
        grown = {c: v["delta_ms"] for c, v in out["components"].items() if v["delta_ms"] is not None}
        if grown:
            best = max(grown, key=lambda c: grown[c])
            out["grew_most"] = best if grown[best] > 0 else None
    else:
        out["reason"] = ls_on.get("reason") or ls_off.get("reason") or "latency split unavailable"
    g_on, g_off = on.get("gpu", {}), off.get("gpu", {})
    out["gpu"] = {
        key: {"on": g_on.get(key), "off": g_off.get(key), "delta_pct": _pct(g_on.get(key), g_off.get(key))}
        for key in ("busy_fraction", "energy_per_output_token_j", "energy_j")
    }
    return out
