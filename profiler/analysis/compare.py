"""Compare TEE-on against TEE-off runs → ``comparison.json`` (DESIGN §4, §5).

Choice of bootstrap (recorded in ``method.bootstrap``):

- ``paired``: one run per leg and the same prompts in the same order (equal ``prompt_hash``
  sequences, or, for imports without prompts, equal input-length sequences). Request i is drawn
  in both legs together, so prompt-to-prompt variation cancels and the CI reflects the TEE;
- ``independent``: one run per leg, prompts differ: each leg resampled on its own;
- ``repetitions``: several runs in a leg: the run is the unit. Each metric is computed per run
  and a Welch t-interval on log values gives the CI (``repetitions``), so run-to-run noise (which
  DESIGN §7 shows is large) widens it honestly even with 2–3 runs. The token-volume fit, which
  needs requests, uses a two-stage bootstrap (runs, then requests within runs).

Throughput (TPS, QPS, goodput) is one number per run (see ``legs``): its CI needs repetitions.
All resampling is seeded: same input + seed → the same comparison.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from profiler import __version__
from profiler.analysis import paper, quality, stats, token_volume
from profiler.analysis.blocks import pair_blocks
from profiler.analysis.legs import LegData, load_leg, run_info
from profiler.analysis.nodes import llm_node_rows
from profiler.analysis.overhead import block_log_ratios, metric_rows, run_values
from profiler.analysis.power import TARGETS, block_power, block_seconds, run_power
from profiler.results.comparison import Comparison, LegRuns, Method, MetricRow, TokenVolume, Warn
from profiler.store import COMPARISON, utc_now


def _paired(on: LegData, off: LegData) -> bool:
    if len(on.runs) != 1 or len(off.runs) != 1 or on.n != off.n or on.n < 2:
        return False
    keys = on.request_keys()
    return keys is not None and keys == off.request_keys()


def design(on: LegData, off: LegData) -> str:
    if pair_blocks(on, off) is not None:
        return "blocks"
    if len(on.runs) > 1 or len(off.runs) > 1:
        return "repetitions"
    return "paired" if _paired(on, off) else "independent"


#: How each design forms its intervals (method.interval of comparison.json).
INTERVALS = {
    "blocks": "paired t on per-block log ratios (t on blocks − 1 df); estimate: geometric mean of the "
    "per-block ratios",
    "repetitions": "Welch t on log per-run values (unpaired)",
    "paired": "paired bootstrap percentile over requests",
    "independent": "independent bootstrap percentile over requests",
}


def _request_weights(
    rng: np.random.Generator, on: LegData, off: LegData, method: str, n_boot: int
) -> tuple[np.ndarray, np.ndarray]:
    if method == "blocks":
        blocks = pair_blocks(on, off)
        assert blocks is not None
        return stats.block_weights(
            rng, [on.groups[i] for i in blocks.on], [off.groups[j] for j in blocks.off], on.n, off.n, n_boot
        )
    if method == "paired":
        w = stats.weights(rng, on.n, n_boot)
        return w, w
    if method == "repetitions":
        return stats.weights(rng, on.n, n_boot, on.groups), stats.weights(rng, off.n, n_boot, off.groups)
    return stats.weights(rng, on.n, n_boot), stats.weights(rng, off.n, n_boot)


def _slos(on: LegData) -> dict[str, float]:
    workload = on.runs[0].manifest.workload or {}
    slos = workload.get("slos")
    return {str(k): float(v) for k, v in (slos or {}).items()} if isinstance(slos, dict) else {}


def compare_legs(
    on: LegData,
    off: LegData,
    *,
    paper_compat: bool = False,
    aa: bool = False,
    n_boot: int = 2000,
    seed: int = 0,
    n_bins: int = token_volume.DEFAULT_BINS,
    confidence: float = stats.CONFIDENCE,
    pilot: int | None = None,
    targets: Sequence[float] = TARGETS,
) -> Comparison:
    rng = np.random.default_rng(seed)
    method = design(on, off)
    blocks = pair_blocks(on, off) if method == "blocks" else None
    pilot = pilot if blocks is not None and pilot and 2 <= pilot <= len(blocks) else None
    w_on, w_off = _request_weights(rng, on, off, method, n_boot)
    slos = _slos(on)
    by_run = method == "repetitions"
    throughput_method = {
        "blocks": "per-block log ratios of per-run values, paired t",
        "repetitions": "per-run values, Welch t on logs",
    }.get(method, "none: throughput varies run to run and one run per leg cannot show by how much")
    metrics = metric_rows(
        on,
        off,
        {"request": (w_on, w_off), "run": (None, None)},
        with_goodput=bool(slos),
        confidence=confidence,
        by_run=by_run,
        blocks=blocks,
        pilot=pilot,
    )
    warnings = quality.run_checks(quality.Context(on, off, method == "paired", metrics, blocks, aa=aa))
    interval = INTERVALS[method]
    if pilot:
        interval = (
            f"two-stage (Stein) paired t on per-block log ratios: the spread from the first {pilot} "
            f"blocks, t on {pilot - 1} df; estimate: geometric mean of the per-block ratios"
        )
    volume = token_volume.token_volume(on, off, w_on, w_off, n_bins=n_bins)
    volume["interval"] = {
        "blocks": "paired two-stage bootstrap percentile: blocks drawn together for both legs, then requests",
        "repetitions": "two-stage bootstrap percentile: runs, then requests within runs",
    }.get(method, f"{method} bootstrap percentile over requests")
    power = None
    if blocks is not None:
        ratios = block_log_ratios(on, off, blocks, with_goodput=bool(slos))
        power = block_power(
            ratios, block_seconds(on, off, blocks), pilot=pilot, targets=targets, confidence=confidence
        )
    elif by_run:
        power = run_power(
            run_values(on, off, with_goodput=bool(slos)), None, targets=targets, confidence=confidence
        )
    return Comparison(
        tool_version=__version__,
        model=on.runs[0].manifest.model or off.runs[0].manifest.model,
        aa=aa,
        created=utc_now(),
        on_runs=[str(r.path) for r in on.runs],
        off_runs=[str(r.path) for r in off.runs],
        runs=LegRuns(on=run_info(on), off=run_info(off)),
        method=Method(
            bootstrap=method,
            n_boot=n_boot,
            confidence=confidence,
            seed=seed,
            interval=interval,
            throughput=throughput_method,
            slos=slos or None,
            blocks=len(blocks) if blocks else None,
            pilot_blocks=pilot,
        ),
        metrics=(rows := [MetricRow(**m) for m in metrics]),
        nodes=llm_node_rows(on.frame, off.frame, rows),
        paper_compat=paper.paper_view(on.frame, off.frame) if paper_compat else None,
        token_volume=TokenVolume.model_validate(volume),
        warnings=[Warn(**w) for w in warnings],
        environment={"on": on.runs[0].manifest.environment, "off": off.runs[0].manifest.environment},
        power=power,
    )


def compare_runs(
    on: Sequence[Path] | Path,
    off: Sequence[Path] | Path,
    out: Path,
    *,
    paper_compat: bool = False,
    aa: bool = False,
    n_boot: int = 2000,
    seed: int = 0,
    n_bins: int = token_volume.DEFAULT_BINS,
    confidence: float = stats.CONFIDENCE,
    pilot: int | None = None,
    targets: Sequence[float] = TARGETS,
    names: tuple[str, str] | None = None,
) -> Comparison:
    """Compare LLM run directories (or folders of runs); write ``<out>/comparison.json``.
    ``names``: the two legs' names in a k-leg profile (the leg, then its reference)."""
    on_paths = [on] if isinstance(on, (str, Path)) else list(on)
    off_paths = [off] if isinstance(off, (str, Path)) else list(off)
    probe = load_leg(on_paths, "on")
    slos = _slos(probe)
    on_leg = load_leg(on_paths, "on", slos=slos) if slos else probe
    off_leg = load_leg(off_paths, "off", slos=slos)
    result = compare_legs(
        on_leg,
        off_leg,
        paper_compat=paper_compat,
        aa=aa,
        n_boot=n_boot,
        seed=seed,
        n_bins=n_bins,
        confidence=confidence,
        pilot=pilot,
        targets=targets,
    )
    if names is not None:
        result = result.model_copy(update={"leg": names[0], "reference": names[1]})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result.save(out / COMPARISON)
    return result
