"""Explain the LLM overhead: host↔GPU crossings per decode step × the toll per crossing.

Inputs (all plain values, so the report can feed them from wherever they were measured):

- :class:`StepCounts` — how many crossings one decode step makes: H2D copies (input ids,
  positions, slot mapping, block tables…, staged in pinned memory and sent asynchronously),
  synchronous D2H copies (the sampled token ids coming back), eager kernel launches and CUDA
  graph replays, and the bytes moved. vLLM does not export these; :func:`vllm_decode_counts`
  gives a documented estimate, and :func:`decode_step_rate` the step rate from vLLM's
  ``generation_tokens_total`` rate and mean ``num_requests_running`` (every running request
  gains one token per decode step).
- :class:`Tolls` — µs per crossing from the gpu suite on the same host(s):
  the fitted fixed cost of a pinned H2D pipelined copy and of a pinned D2H synchronous copy
  (``*_latency`` rows, case ``fit``), ``launch_pipelined``, ``graph_replay`` and the fitted
  bandwidths. :func:`tolls_from_results` builds it from the suite's results rows; with both
  legs' rows the tolls are the difference on − off (what CC adds), with the TEE leg only they
  are its absolute costs, an upper bound of what CC adds.
- :class:`MeasuredOverhead` — the TPOT difference on − off in ms with its 95 % CI, e.g. from a
  comparison.json TPOT row via :func:`measured_from_comparison`.

Under continuous batching a request's TPOT is the decode step interval, so a fixed cost per
step adds once to every running request's TPOT: the prediction is per step = per token of a
request. :func:`explain` returns the prediction, each term, the share of the measured overhead
it accounts for, and a plain sentence — which says "does not add up" whenever the prediction
falls outside the measured CI.

Example (a report section, with the gpu-suite run of each leg and the profile's TPOT row)::

    tolls = tolls_from_results(on_run.table("results").to_dict("records"),
                               off_run.table("results").to_dict("records"))
    steps = decode_step_rate(generation_tokens_per_s, mean_running)
    e = explain(vllm_decode_counts(mean_running), tolls, measured_from_comparison(tpot_row),
                steps_per_s=steps, output_tokens_per_s=output_throughput)
    print(e.sentence)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Estimated, not counted: per decode step of vLLM's V1 GPU model runner.
VLLM_H2D_COPIES = 6  # input ids, positions, slot mapping, query start locs, seq lens, block table
VLLM_D2H_SYNC_COPIES = 1  # sampled token ids, waited for before the next step is scheduled
VLLM_EAGER_LAUNCHES_GRAPHED = 20  # input preparation and sampling around the graphed forward
VLLM_KERNELS_PER_LAYER_EAGER = 12  # norms, qkv/o/mlp GEMMs, rotary, attention, activations, adds


@dataclass(frozen=True)
class StepCounts:
    h2d_copies: float
    d2h_sync_copies: float
    launches: float
    graph_replays: float
    h2d_bytes: float = 0.0
    d2h_bytes: float = 0.0
    assumptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tolls:
    h2d_copy_us: float
    d2h_copy_us: float
    launch_us: float
    graph_replay_us: float
    h2d_gbps: float | None = None
    d2h_gbps: float | None = None
    #: "on - off" (what CC adds) or "on only" (absolute costs: an upper bound of what CC adds)
    basis: str = "on - off"
    #: for the on-off basis, the off-host bandwidths (the bytes term is a difference too)
    h2d_gbps_off: float | None = None
    d2h_gbps_off: float | None = None


@dataclass(frozen=True)
class MeasuredOverhead:
    added_ms: float
    ci_low_ms: float | None = None
    ci_high_ms: float | None = None
    off_ms: float | None = None


@dataclass(frozen=True)
class Term:
    name: str
    per_step: float
    toll_us: float
    ms: float


@dataclass(frozen=True)
class Explanation:
    predicted_ms: float  # added ms per decode step = per output token of each running request
    measured_ms: float | None
    measured_ci_ms: tuple[float, float] | None
    share_explained: float | None  # predicted / measured
    verdict: str  # "adds up" | "does not add up" | "cannot judge"
    sentence: str
    terms: tuple[Term, ...]
    basis: str
    steps_per_s: float | None = None
    tokens_per_step: float | None = None
    toll_share_of_time: float | None = None  # predicted cost × step rate: share of wall time
    assumptions: tuple[str, ...] = field(default_factory=tuple)


def decode_step_rate(generation_tokens_per_s: float, mean_running: float) -> float | None:
    """Decode steps per second: each running request gains one token per step (an estimate that
    ignores steps spent on prefill-only chunks)."""
    if not (generation_tokens_per_s > 0 and mean_running > 0):
        return None
    return generation_tokens_per_s / mean_running


def vllm_decode_counts(batch: float, *, cuda_graphs: bool = True, layers: int = 32,
                       context_tokens: float = 1024.0, block_size: int = 16) -> StepCounts:
    """An ESTIMATE of one vLLM decode step's crossings for ``batch`` running requests."""
    block_table = batch * math.ceil(context_tokens / block_size) * 4  # int32 block ids per row
    launches = VLLM_EAGER_LAUNCHES_GRAPHED if cuda_graphs else \
        layers * VLLM_KERNELS_PER_LAYER_EAGER + VLLM_EAGER_LAUNCHES_GRAPHED
    return StepCounts(
        h2d_copies=VLLM_H2D_COPIES, d2h_sync_copies=VLLM_D2H_SYNC_COPIES, launches=launches,
        graph_replays=1 if cuda_graphs else 0,
        h2d_bytes=batch * 28 + block_table, d2h_bytes=batch * 8,
        assumptions=(
            f"estimated, not counted: {VLLM_H2D_COPIES} async H2D copies and "
            f"{VLLM_D2H_SYNC_COPIES} synchronous D2H copy per decode step (vLLM V1 model runner)",
            f"{launches} eager launches per step" + (" around 1 CUDA-graph replay" if cuda_graphs
                                                      else f" ({layers} layers, no CUDA graphs)"),
            f"block table of {context_tokens:g} context tokens in blocks of {block_size}",
        ),
    )


def measured_from_comparison(row: Mapping[str, Any]) -> MeasuredOverhead:
    """A comparison.json latency row (on/off ms, overhead % with its CI in %) → ms."""
    on, off = float(row["on"]), float(row["off"])
    lo, hi = row.get("ci_low"), row.get("ci_high")
    scale = off / 100.0
    return MeasuredOverhead(added_ms=on - off, off_ms=off,
                            ci_low_ms=float(lo) * scale if lo is not None else None,
                            ci_high_ms=float(hi) * scale if hi is not None else None)


_TOLL_METRICS = {
    "h2d_copy_us": "h2d_pinned_pipelined_latency",
    "d2h_copy_us": "d2h_pinned_sync_latency",
    "launch_us": "launch_pipelined",
    "graph_replay_us": "graph_replay",
    "h2d_gbps": "h2d_pinned_pipelined_bandwidth",
    "d2h_gbps": "d2h_pinned_sync_bandwidth",
}


def _means(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    acc: dict[str, list[float]] = {}
    for r in rows:
        v = r.get("value")
        if v is not None and math.isfinite(float(v)):
            acc.setdefault(str(r["metric"]), []).append(float(v))
    return {k: sum(v) / len(v) for k, v in acc.items()}


def tolls_from_results(on_rows: Iterable[Mapping[str, Any]],
                       off_rows: Iterable[Mapping[str, Any]] | None = None) -> Tolls:
    """Tolls from gpu-suite result rows (dicts with metric, value; the mean over repetitions).

    Raises ValueError naming the metrics a leg lacks (run the copy, launch and graph steps).
    """
    legs = [_means(on_rows)] + ([_means(off_rows)] if off_rows is not None else [])
    for leg, name in zip(legs, ("on", "off"), strict=False):
        missing = [m for k, m in _TOLL_METRICS.items() if not k.endswith("gbps") and m not in leg]
        if missing:
            raise ValueError(f"the {name} leg's gpu suite lacks {', '.join(missing)}")
    on = legs[0]
    off = legs[1] if len(legs) > 1 else None

    def fixed(key: str) -> float:
        m = _TOLL_METRICS[key]
        return on[m] - off[m] if off is not None else on[m]

    return Tolls(
        h2d_copy_us=fixed("h2d_copy_us"), d2h_copy_us=fixed("d2h_copy_us"),
        launch_us=fixed("launch_us"), graph_replay_us=fixed("graph_replay_us"),
        h2d_gbps=on.get(_TOLL_METRICS["h2d_gbps"]), d2h_gbps=on.get(_TOLL_METRICS["d2h_gbps"]),
        basis="on - off" if off is not None else "on only",
        h2d_gbps_off=off.get(_TOLL_METRICS["h2d_gbps"]) if off is not None else None,
        d2h_gbps_off=off.get(_TOLL_METRICS["d2h_gbps"]) if off is not None else None,
    )


def _bytes_us(nbytes: float, gbps: float | None, gbps_off: float | None, basis: str) -> float:
    if nbytes <= 0 or not gbps:
        return 0.0
    on = nbytes / (gbps * 1e9) * 1e6
    if basis == "on - off":
        return on - (nbytes / (gbps_off * 1e9) * 1e6 if gbps_off else 0.0)
    return on


def predict_terms(counts: StepCounts, tolls: Tolls) -> tuple[Term, ...]:
    """Each crossing kind's count per step, toll and resulting ms per step."""
    raw = (
        ("H2D copies", counts.h2d_copies, tolls.h2d_copy_us),
        ("D2H synchronous copies", counts.d2h_sync_copies, tolls.d2h_copy_us),
        ("kernel launches", counts.launches, tolls.launch_us),
        ("CUDA-graph replays", counts.graph_replays, tolls.graph_replay_us),
    )
    terms = [Term(n, c, t, c * t / 1e3) for n, c, t in raw if c]
    for name, nbytes, gbps, off in (("H2D bytes", counts.h2d_bytes, tolls.h2d_gbps, tolls.h2d_gbps_off),
                                    ("D2H bytes", counts.d2h_bytes, tolls.d2h_gbps, tolls.d2h_gbps_off)):
        us = _bytes_us(nbytes, gbps, off, tolls.basis)
        if us:
            terms.append(Term(name, nbytes, us, us / 1e3))
    return tuple(terms)


def _fmt_terms(terms: Iterable[Term]) -> str:
    parts = []
    for t in terms:
        if t.name.endswith("bytes"):
            parts.append(f"{t.name} {t.per_step:,.0f} B → {t.toll_us:.2f} µs")
        else:
            parts.append(f"{t.per_step:g} {t.name} × {t.toll_us:.2f} µs")
    return "; ".join(parts)


def explain(counts: StepCounts, tolls: Tolls, measured: MeasuredOverhead | None, *,
            steps_per_s: float | None = None, output_tokens_per_s: float | None = None) -> Explanation:
    """Predicted added ms per token from crossings × tolls, against the measured TPOT overhead."""
    terms = predict_terms(counts, tolls)
    pred = sum(t.ms for t in terms)
    basis = "what CC adds (on − off)" if tolls.basis == "on - off" else \
        "the TEE host's absolute costs (no off-host suite: an upper bound of what CC adds)"
    head = f"Host↔GPU crossings predict {pred:+.3f} ms per token ({_fmt_terms(terms)}; tolls are {basis})"
    tokens_per_step = (output_tokens_per_s / steps_per_s
                       if steps_per_s and output_tokens_per_s else None)
    share_time = pred * steps_per_s / 1e3 if steps_per_s else None
    ci: tuple[float, float] | None = None
    share: float | None = None
    if measured is None:
        verdict, tail = "cannot judge", "no TPOT overhead was measured to compare with."
    else:
        m = measured.added_ms
        share = pred / m if m > 0 else None
        if measured.ci_low_ms is not None and measured.ci_high_ms is not None:
            ci = (measured.ci_low_ms, measured.ci_high_ms)
        what = f"the measured TPOT overhead is {m:+.3f} ms" + (
            f" (95% CI {ci[0]:+.3f} to {ci[1]:+.3f})" if ci else " (no CI)")
        pct = f"{share:.0%}" if share is not None else "n/a"
        if ci is None:
            verdict, tail = "cannot judge", f"{what}: without a CI we cannot say whether it adds up " \
                f"(crossings = {pct} of the point estimate)."
        elif ci[0] <= pred <= ci[1]:
            verdict, tail = "adds up", f"{what}: the crossings account for {pct} of it, inside the CI."
        elif pred < ci[0]:
            verdict, tail = "does not add up", f"{what}: this does not add up — the crossings account " \
                f"for only {pct}; the rest comes from something these tolls do not cover."
        else:
            verdict, tail = "does not add up", f"{what}: this does not add up — the crossings predict " \
                f"more than was measured ({pct}): the counts are too high or the tolls overlap GPU work."
    return Explanation(
        predicted_ms=pred, measured_ms=measured.added_ms if measured else None, measured_ci_ms=ci,
        share_explained=share, verdict=verdict, sentence=f"{head}; {tail}", terms=terms,
        basis=tolls.basis, steps_per_s=steps_per_s, tokens_per_step=tokens_per_step,
        toll_share_of_time=share_time, assumptions=counts.assumptions,
    )
