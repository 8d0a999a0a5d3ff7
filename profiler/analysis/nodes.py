"""Nodes as a dimension of a comparison: each node's value next to the pooled legs.

A fleet suite (``suite NAME --cluster``) writes one run directory per node, and a distributed
LLM run records which client node sent each request. When a leg's runs came from more than one
node, the comparison keeps, per metric, each node's own mean and its overhead against the pooled
reference leg: the reference leg's nodes then show how far equal hosts spread (a fleet's own
noise floor), and an outlier node of the TEE leg stands out instead of vanishing in the pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from profiler.analysis import stats
from profiler.results.comparison import MetricRow, NodeRow
from profiler.store import Run

#: LLM rows given per client node (the per-request means a node's own requests allow).
LLM_NODE_METRICS = {"mean_ttft_ms": "ttft_ms", "mean_tpot_ms": "tpot_ms", "mean_e2el_ms": "e2el_ms"}


def run_node(run: Run) -> str | None:
    """The node a fleet run measured (manifest ``cluster.node``), else None."""
    c = run.manifest.cluster
    return c.node.ip if c is not None and c.node is not None else None


def _several(nodes: Sequence[str | None]) -> bool:
    return len({n for n in nodes if n}) > 1


def suite_node_rows(on: Sequence[Run], off: Sequence[Run], frames: Mapping[str, pd.DataFrame],
                    rows: Sequence[MetricRow]) -> list[NodeRow]:  # fmt: skip
    """Per node of each leg, per metric row: that node's mean of the repetitions.

    ``frames``: the results tables of each leg with a ``run`` column indexing ``on``/``off``.
    Empty unless some leg's runs came from several nodes.
    """
    node_of = {"on": [run_node(r) for r in on], "off": [run_node(r) for r in off]}
    if not (_several(node_of["on"]) or _several(node_of["off"])):
        return []
    out: list[NodeRow] = []
    for row in rows:
        for leg in ("on", "off"):
            f = frames[leg]
            g = f[(f["metric"] == row.name) & (f["case"].astype(str) == (row.case or ""))]
            nodes = g["run"].map(lambda i, leg=leg: node_of[leg][int(i)] or "?")
            for node, part in g.groupby(nodes, sort=True):
                values = part["value"].to_numpy(dtype=float)
                out.append(_row(leg, str(node), row, values))
    return out


def llm_node_rows(on: pd.DataFrame, off: pd.DataFrame, rows: Sequence[MetricRow]) -> list[NodeRow]:
    """Per client node (requests.parquet ``node``) of each leg: the means of its own requests."""
    have = [f for f in (on, off) if "node" in f.columns]
    if not have or not any(f["node"].nunique() > 1 for f in have):
        return []
    out: list[NodeRow] = []
    for row in rows:
        column = LLM_NODE_METRICS.get(row.metric)
        if column is None:
            continue
        for leg, frame in (("on", on), ("off", off)):
            if "node" not in frame.columns:
                continue
            ok = frame[frame["ok"]] if "ok" in frame.columns else frame
            for node, part in ok.groupby(ok["node"].astype(str), sort=True):
                out.append(_row(leg, str(node), row, part[column].to_numpy(dtype=float)))
    return out


def _row(leg: str, node: str, row: MetricRow, values: np.ndarray) -> NodeRow:
    values = values[np.isfinite(values)]
    mean = float(values.mean()) if values.size else None
    ref = row.off
    vs = None
    if mean is not None and ref is not None and np.isfinite(ref) and ref != 0:
        vs = float(stats.overhead(mean, ref, row.direction))
    return NodeRow(leg=leg, node=node, metric=row.metric, value=mean, n=int(values.size), vs_reference_pct=vs)
