"""The client-health gate: was the load generator itself the bottleneck?

Two lags say how late the client was, per request and per chunk:

- send lag = sent − scheduled (minus any connect/TLS done for that request): how late a request
  left compared with the earliest moment the schedule and the concurrency cap allowed;
- event-loop lag = how long a ready callback waited for the loop, probed every 10 ms: a chunk
  that arrives while the loop is busy is stamped at least this late.

For an open-loop schedule (a finite request rate) the pacing precision too:

- pacing lag = sent − target (minus any connect/TLS): how late a request left against the
  instant the arrival process wanted it — the offered load that capacity sweeps depend on. A
  request that waited for the concurrency cap counts too (``cap_waited`` says how many): the
  schedule was not followed either way, and the remedy, a higher cap, differs.

Plus the client's CPU use. When any of them passes its limit, the verdict is ``client_bound``
and the message says plainly that latencies include client delay (summary + console).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from loadgen.metrics import NS_PER_MS, measured

#: Event-loop lag delays every arrival stamp: a p99 above this is a sizeable share of the TEE
#: effects we measure (3–25% of ITLs of ~10–50 ms), so the run must say the client may own it.
LAG_LIMIT_MS = 2.0
#: Send lag does not enter TTFT (measured from the real send) but bends the offered load: a
#: systematic lateness (mean) or long stalls (p99) mean the schedule was not followed. A
#: machine's scheduling noise alone gives p99s of a few ms, hence the wider p99 limit.
SEND_MEAN_LIMIT_MS = 1.0
SEND_P99_LIMIT_MS = 10.0
#: A client process at ≥ 90% of a core has no slack left to stamp arrivals on time.
CPU_LIMIT = 0.90
#: Open loop: p99 lateness against the target. At 1000 req/s the mean Poisson gap is 1 ms, so a
#: p99 past it means the offered process was visibly not the one asked for.
PACING_P99_LIMIT_MS = 1.0


def _stats(values: np.ndarray) -> dict[str, float | None]:
    if values.size == 0:
        return {"mean": None, "p50": None, "p99": None, "max": None}
    return {
        "mean": float(values.mean()),
        "p50": float(np.percentile(values, 50)),
        "p99": float(np.percentile(values, 99)),
        "max": float(values.max()),
    }


def send_lag_ms(frame: pd.DataFrame) -> np.ndarray:
    frame = measured(frame)
    sent = frame["sent_ns"]
    mask = sent > 0
    f = frame[mask]
    lag = (f["sent_ns"] - f["scheduled_ns"]) / NS_PER_MS
    for col in ("connect_ms", "tls_ms"):  # a reconnect is not the client being slow
        if col in f.columns:
            lag = lag - f[col].fillna(0.0)
    return lag.to_numpy(float)


def pacing_lag_ms(frame: pd.DataFrame) -> tuple[np.ndarray, float | None]:
    """Per request sent − target (ms, connect excluded) and the share that waited for the cap."""
    frame = measured(frame)
    if "target_ns" not in frame.columns:
        return np.array([]), None
    f = frame[frame["sent_ns"] > 0]
    lag = (f["sent_ns"] - f["target_ns"]) / NS_PER_MS
    for col in ("connect_ms", "tls_ms"):
        if col in f.columns:
            lag = lag - f[col].fillna(0.0)
    capped = float((f["scheduled_ns"] > f["target_ns"]).mean()) if len(f) else None
    return lag.to_numpy(float), capped


def coalesced_fraction(frame: pd.DataFrame) -> float | None:
    """Share of inter-token gaps that are exactly 0: events that arrived in one read.

    Stamps are per read, so a 0 gap means two events came together — the server flushed them
    together (its loop was busy, e.g. rendering /metrics) or the client read late. Either way
    those ITLs are not the server's decode steps; a large share deserves a look.
    """
    frame = measured(frame)
    ok = frame[frame["ok"].astype(bool)] if "ok" in frame.columns else frame
    parts = [np.asarray(v, dtype=float) for v in ok["itl_ms"] if v is not None and len(v)]
    if not parts:
        return None
    itl = np.concatenate(parts)
    return float((itl == 0).mean())


def client_health(
    frame: pd.DataFrame,
    loop_lag_ns: Sequence[int],
    cpu_s: Sequence[float],
    wall_s: Sequence[float],
    *,
    open_loop: bool = False,
    pacing_limit_ms: float = PACING_P99_LIMIT_MS,
) -> dict[str, Any]:
    """Summary of the client's own delays; ``cpu_s``/``wall_s`` are per worker process.

    ``open_loop``: the schedule has a finite rate, so pacing against the targets is judged."""
    send = _stats(send_lag_ms(frame))
    pace_values, capped = pacing_lag_ms(frame) if open_loop else (np.array([]), None)
    pace = _stats(pace_values)
    loop = _stats(np.asarray(loop_lag_ns, dtype=float) / NS_PER_MS)
    util = [c / w for c, w in zip(cpu_s, wall_s, strict=True) if w > 0]
    cpu = max(util) if util else None
    reasons = []
    if send["mean"] is not None and send["mean"] > SEND_MEAN_LIMIT_MS:
        reasons.append(f"mean send lag {send['mean']:.1f} ms > {SEND_MEAN_LIMIT_MS:g} ms")
    if send["p99"] is not None and send["p99"] > SEND_P99_LIMIT_MS:
        reasons.append(f"p99 send lag {send['p99']:.1f} ms > {SEND_P99_LIMIT_MS:g} ms")
    if loop["p99"] is not None and loop["p99"] > LAG_LIMIT_MS:
        reasons.append(f"p99 event-loop lag {loop['p99']:.1f} ms > {LAG_LIMIT_MS:g} ms")
    if cpu is not None and cpu >= CPU_LIMIT:
        reasons.append(f"client CPU {cpu:.0%} of a core")
    if open_loop and pace["p99"] is not None and pace["p99"] > pacing_limit_ms:
        why = f"p99 pacing lag {pace['p99']:.2f} ms > {pacing_limit_ms:g} ms against the schedule"
        if capped:
            why += f" ({capped:.0%} of requests waited for the concurrency cap: raise --concurrency)"
        reasons.append(why)
    bound = bool(reasons)
    if bound:
        message = (
            "the CLIENT was the bottleneck (" + "; ".join(reasons) + "): measured latencies include "
            "client delay, not just server latency; use --workers N, lower concurrency, or a less "
            "loaded machine"
        )
    else:
        message = (
            f"client kept up: mean/p99 send lag {send['mean'] or 0:.2f}/{send['p99'] or 0:.2f} ms, "
            + (f"p50/p99 pacing lag {pace['p50'] or 0:.3f}/{pace['p99'] or 0:.3f} ms, " if open_loop else "")
            + f"p99 event-loop lag {loop['p99'] or 0:.2f} ms, CPU {cpu or 0:.0%} of a core"
        )
    coalesced = coalesced_fraction(frame) if "itl_ms" in frame.columns else None
    return {
        "client_bound": bound,
        "coalesced_itl_fraction": coalesced,
        "message": message,
        "send_lag_ms": send,
        "open_loop": open_loop,
        "pacing_lag_ms": pace,
        "cap_waited": capped,
        "loop_lag_ms": loop,
        "cpu_util": cpu,
        "workers": len(util),
        "limits": {"loop_lag_p99_ms": LAG_LIMIT_MS, "send_lag_mean_ms": SEND_MEAN_LIMIT_MS,
                   "send_lag_p99_ms": SEND_P99_LIMIT_MS, "cpu_util": CPU_LIMIT,
                   "pacing_lag_p99_ms": pacing_limit_ms if open_loop else None},
    }


#: The flat keys :func:`summary_keys` adds to summary.json next to vLLM's.
SUMMARY_KEYS: tuple[str, ...] = (
    "client_bound",
    "client_health",
    "p50_send_lag_ms",
    "p99_send_lag_ms",
    "p50_pacing_lag_ms",
    "p99_pacing_lag_ms",
    "max_pacing_lag_ms",
    "cap_waited_fraction",
    "p99_loop_lag_ms",
    "max_loop_lag_ms",
    "client_cpu_util",
    "coalesced_itl_fraction",
)


def summary_keys(health: dict[str, Any]) -> dict[str, Any]:
    """The flat keys execute_run adds to summary.json next to vLLM's (:data:`SUMMARY_KEYS`)."""
    return {
        "client_bound": health["client_bound"],
        "client_health": health["message"],
        "p50_send_lag_ms": health["send_lag_ms"]["p50"],
        "p99_send_lag_ms": health["send_lag_ms"]["p99"],
        # .get: manifests written before pacing was judged lack these
        "p50_pacing_lag_ms": (health.get("pacing_lag_ms") or {}).get("p50"),
        "p99_pacing_lag_ms": (health.get("pacing_lag_ms") or {}).get("p99"),
        "max_pacing_lag_ms": (health.get("pacing_lag_ms") or {}).get("max"),
        "cap_waited_fraction": health.get("cap_waited"),
        "p99_loop_lag_ms": health["loop_lag_ms"]["p99"],
        "max_loop_lag_ms": health["loop_lag_ms"]["max"],
        "client_cpu_util": health["cpu_util"],
        "coalesced_itl_fraction": health.get("coalesced_itl_fraction"),
    }
