"""Data-quality checks: what could make a comparison misleading, said plainly.

Each check registers by name and returns warnings ``{code, message, leg}`` (leg: "on", "off" or
None for both). They are stored in comparison.json and printed under the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from catalog.registry import Registry
from profiler.analysis.blocks import Blocks, block_prompts_match
from profiler.analysis.evidence import contradictions
from profiler.analysis.legs import LegData

SHORT_FRACTION = 0.05  # warn when more than 5% of requests stopped far below max_tokens
ERROR_RATE = 0.01
CLIENT_LAG_P99_MS = 10.0  # the load generator's own lateness; above this the schedule was not kept


@dataclass
class Context:
    on: LegData
    off: LegData
    paired: bool
    metrics: list[dict[str, Any]]
    blocks: Blocks | None = None
    aa: bool = False


Check = Callable[[Context], list[dict[str, Any]]]
CHECKS: Registry[Check] = Registry("data-quality check")


def _warn(code: str, message: str, leg: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "leg": leg}


def _legs(ctx: Context) -> list[tuple[str, LegData]]:
    return [("on", ctx.on), ("off", ctx.off)]


@CHECKS.register("short_outputs")
def short_outputs(ctx: Context) -> list[dict[str, Any]]:
    out = []
    for name, leg in _legs(ctx):
        n_ok = int(leg.ok.sum())
        if n_ok == 0:
            continue
        produced = leg.output_tokens[leg.ok]
        if "max_tokens" in leg.frame.columns and leg.frame["max_tokens"].notna().any():
            asked = leg.frame["max_tokens"].to_numpy(float)[leg.ok]
            short = produced < 0.5 * asked
            what = "produced less than half of max_tokens"
        else:
            short = produced <= 2
            what = "produced ≤ 2 tokens (max_tokens unknown)"
        frac = float(np.mean(short))
        if frac > SHORT_FRACTION:
            out.append(
                _warn(
                    "short_outputs",
                    f"{frac:.0%} of {name} requests {what}: per-token metrics describe a different "
                    "workload than asked (was ignore_eos off?)",
                    name,
                )
            )
    return out


@CHECKS.register("prompts_differ")
def prompts_differ(ctx: Context) -> list[dict[str, Any]]:
    if ctx.paired:
        return []
    if ctx.blocks is not None:  # both runs of each block must match; blocks differ by design
        if block_prompts_match(ctx.on, ctx.off, ctx.blocks):
            return []
        return [_warn("prompts_differ", "the two runs of a block sent different prompts (or in another "
                      "order): the block comparison is not like for like")]
    # Without blocks: each run's prompt sequence must appear in the other leg (repetitions have
    # their own seeds, so runs of one leg differ from each other by design).
    on_seqs = [_run_keys(ctx.on, g) for g in ctx.on.groups]
    off_seqs = [_run_keys(ctx.off, g) for g in ctx.off.groups]
    if (
        all(s is not None for s in on_seqs + off_seqs)
        and all(s in off_seqs for s in on_seqs)
        and all(s in on_seqs for s in off_seqs)
    ):
        return []
    sizes = sorted({len(g) for leg in (ctx.on, ctx.off) for g in leg.groups})
    what = (
        f"runs sent different numbers of requests ({', '.join(map(str, sizes))})"
        if len(sizes) > 1
        else ("runs' prompts differ (prompt hashes or input lengths, or their order)")
    )
    suffix = (
        "; compared as independent samples, CIs are wider"
        if len(ctx.on.runs) == len(ctx.off.runs) == 1
        else ""
    )
    return [_warn("prompts_differ", what + suffix)]


def _run_keys(leg: LegData, rows: np.ndarray) -> list[Any] | None:
    keys = leg.request_keys()
    return None if keys is None else [keys[int(i)] for i in rows]


@CHECKS.register("few_samples")
def few_samples(ctx: Context) -> list[dict[str, Any]]:
    out = []
    for row in ctx.metrics:
        stat = row["stat"]
        if not stat.startswith("p"):
            continue
        q = float(stat[1:])
        n = min(row["n_on"], row["n_off"])
        if n * (1 - q / 100) < 1:
            out.append(
                _warn(
                    "few_samples",
                    f"{row['metric']} from {n} samples: a p{stat[1:]} needs "
                    f"≥ {int(np.ceil(100 / (100 - q)))} to be more than the maximum",
                )
            )
    return out


@CHECKS.register("error_rate")
def error_rate(ctx: Context) -> list[dict[str, Any]]:
    out = []
    for name, leg in _legs(ctx):
        rate = 1 - leg.ok.mean() if leg.n else 0.0
        if rate > ERROR_RATE:
            errors = leg.frame.loc[~leg.ok, "error"].dropna().astype(str)
            top = errors.value_counts().index[0][:80] if not errors.empty else "no message"
            out.append(
                _warn("error_rate", f"{rate:.1%} of {name} requests failed (most common: {top})", name)
            )
    return out


@CHECKS.register("client_health")
def client_health(ctx: Context) -> list[dict[str, Any]]:
    out = []
    for name, leg in _legs(ctx):
        for run in leg.runs:
            # The load generator's own verdict (loadgen.health) wins over any heuristic here.
            health = run.manifest.client_health
            if isinstance(health, dict) and "client_bound" in health:
                if health["client_bound"]:
                    why = health.get("message") or "the load generator flagged itself"
                    out.append(_warn("client_health", f"{run.run_id}: {why}", name))
                continue
            if run.llm.get("client_bound") is True:
                why = run.llm.get("client_health") or "the load generator flagged itself"
                out.append(_warn("client_health", f"{run.run_id}: {why}", name))
                continue
            lag = run.llm.value("p99_client_lag_ms")
            if isinstance(lag, (int, float)) and lag > CLIENT_LAG_P99_MS:
                out.append(
                    _warn(
                        "client_health",
                        f"{run.run_id}: p99 client lag {lag:.1f} ms > {CLIENT_LAG_P99_MS:g} ms: the client "
                        "could not keep the schedule, latencies include its own delay",
                        name,
                    )
                )
    return out


@CHECKS.register("incomplete_runs")
def incomplete_runs(ctx: Context) -> list[dict[str, Any]]:
    return [
        _warn(
            "incomplete_run",
            f"{run.run_id} is {run.manifest.status}: {run.manifest.reason or 'no reason given'}",
            name,
        )
        for name, leg in _legs(ctx)
        for run in leg.runs
        if run.manifest.status != "complete"
    ]


@CHECKS.register("single_run")
def single_run(ctx: Context) -> list[dict[str, Any]]:
    if len(ctx.on.runs) > 1 or len(ctx.off.runs) > 1:
        return []
    missing = [m["metric"] for m in ctx.metrics if m["direction"] == "throughput" and m["ci_low"] is None]
    return [
        _warn(
            "single_run",
            "one run per leg: the CIs cover request-to-request variation only, not run-to-run drift "
            "(back-to-back A/A runs on a shared CPU differed by several % in TTFT and by tens of % "
            "in ITL tails); repeat each leg (profile --repeats 2 or more) for run-level CIs"
            + (f"; no CI at all for {', '.join(missing)}" if missing else ""),
        )
    ]


@CHECKS.register("unpaired")
def unpaired(ctx: Context) -> list[dict[str, Any]]:
    """Repetitions without complete blocks: the unpaired fallback, which keeps host drift in."""
    if ctx.blocks is not None or (len(ctx.on.runs) < 2 and len(ctx.off.runs) < 2):
        return []
    return [_warn("unpaired", "the runs do not form complete blocks (a run of one leg beside a run of the "
                  "other, same experiment, point and block), so the CIs are unpaired run-level intervals: "
                  "host drift between runs stays in them; profile both legs together to pair them")]


@CHECKS.register("same_runs")
def same_runs(ctx: Context) -> list[dict[str, Any]]:
    on = {str(r.path.resolve()) for r in ctx.on.runs}
    if on & {str(r.path.resolve()) for r in ctx.off.runs}:
        return [_warn("same_runs", "the same run directories are on both sides: every overhead is 0 by "
                      "construction, not a measurement")]
    return []


@CHECKS.register("evidence")
def evidence(ctx: Context) -> list[dict[str, Any]]:
    """A leg whose TEE evidence contradicts its name (a leg ``cc`` with CC off, a baseline that is
    a TDX guest); silent in an A/A calibration, where the names mean nothing."""
    if ctx.aa:
        return []
    out = []
    for side, leg in _legs(ctx):
        found = next((r.manifest for r in leg.runs if r.manifest.evidence is not None), None)
        if found is not None:
            out += [_warn("evidence", line, side) for line in contradictions(found.label, found.evidence)]
    return out


def run_checks(ctx: Context) -> list[dict[str, Any]]:
    return [w for _, check in CHECKS.items() for w in check(ctx)]
