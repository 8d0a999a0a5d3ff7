"""Merging the records of workers on several hosts into one run (pure: no Ray, no clocks read).

- Each worker's stamps move onto the driver's CLOCK_MONOTONIC by one constant (its ``shift_ns``,
  :func:`profiler.cluster.clock.shift_ns`): intervals inside a worker — every per-request
  metric — are untouched; only the timeline across workers (duration, throughput windows,
  alignment with the driver's telemetry) depends on the clock exchange, within its bound.
- A worker whose records never came back is not silently dropped: each request of its share
  becomes a failed row saying why, so the run keeps every request of the schedule.
- The client-health gate runs per worker (each is its own process on its own host) as well as
  over the merged table; the run is client-bound when any worker was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from loadgen.drive import Share, ShareResult
from loadgen.health import client_health
from loadgen.records import RawRecord

#: RawRecord fields holding absolute monotonic stamps (0 = never happened: left at 0).
STAMP_FIELDS = (
    "target_ns", "scheduled_ns", "sent_ns", "written_ns", "connect_start_ns", "connect_end_ns",
    "tls_end_ns", "headers_ns", "end_ns",
)  # fmt: skip
NODE_COLUMN = "node"


def shift_records(records: Sequence[RawRecord], shift: int) -> None:
    """Move every stamp of ``records`` by ``shift`` ns, in place (zeros stay zeros)."""
    if shift == 0:
        return
    for rec in records:
        for name in STAMP_FIELDS:
            value = getattr(rec, name)
            if value:
                setattr(rec, name, value + shift)
        rec.stamps = [s + shift for s in rec.stamps]


def shifted(result: ShareResult, shift: int) -> ShareResult:
    """``result`` with its records and t0 on the driver's clock (the records are moved in place)."""
    shift_records(result.records, shift)
    result.t0_ns += shift
    return result


def lost_records(share: Share, reason: str) -> list[RawRecord]:
    """One failed record per measured request of a lost worker's share."""
    return [
        RawRecord(
            i,
            f"r{i}",
            share.prompts[i].hash,
            share.prompts[i].input_tokens,
            share.prompts[i].output_tokens,
            worker=share.worker,
            target_ns=0,
            error=reason,
        )
        for i in share.indices
    ]


def with_node_column(frame: pd.DataFrame, node_of_worker: Mapping[int, str]) -> pd.DataFrame:
    """The requests table with a ``node`` column (right after ``worker``)."""
    nodes = frame["worker"].map(lambda w: node_of_worker.get(int(w), "")).astype(object)
    out = frame.drop(columns=[NODE_COLUMN], errors="ignore")
    out.insert(int(out.columns.get_loc("worker")) + 1, NODE_COLUMN, nodes)  # type: ignore[arg-type]
    return out


def worker_health(frame: pd.DataFrame, part: ShareResult, worker: int, *, open_loop: bool) -> dict[str, Any]:
    """The client-health gate over one worker's own requests and probes."""
    mine = frame[frame["worker"] == worker]
    return client_health(mine, part.loop_lag_ns, [part.cpu_s], [part.wall_s], open_loop=open_loop)


def combine_health(
    overall: dict[str, Any], per_worker: Mapping[int, dict[str, Any]], where: Mapping[int, str]
) -> dict[str, Any]:
    """The merged verdict, client-bound when any worker was; the message names those workers."""
    bound = {w: h for w, h in per_worker.items() if h.get("client_bound")}
    out = dict(overall)
    out["per_worker"] = {
        str(w): {"client_bound": bool(h["client_bound"]), "message": h["message"]}
        for w, h in per_worker.items()
    }
    if bound and not overall.get("client_bound"):
        names = "; ".join(
            f"worker {w} on {where.get(w, '?')}: {h['message']}" for w, h in sorted(bound.items())
        )
        out["client_bound"] = True
        out["message"] = (
            f"the CLIENT was the bottleneck on {len(bound)} of {len(per_worker)} workers ({names})"
        )
    return out
