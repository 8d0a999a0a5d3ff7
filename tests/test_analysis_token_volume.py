"""The token-volume fit recovers known per-leg costs, and refuses to fit when it cannot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from profiler.analysis import token_volume as tv
from profiler.analysis.compare import compare_runs as compare_model
from profiler.analysis.legs import load_leg
from tests.support import synthetic_runs as syn

# Truth: the TEE adds a fixed 30 ms per request and 4% per output token, nothing per input token.
ON: dict[str, Any] = {"fixed_ms": 80.0, "per_in_ms": 0.05, "per_out_ms": 10.4}
OFF: dict[str, Any] = {"fixed_ms": 50.0, "per_in_ms": 0.05, "per_out_ms": 10.0}


def compare_runs(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The comparison as comparison.json holds it (the typed model, dumped)."""
    return compare_model(*args, **kwargs).model_dump()


def _pair(tmp_path: Path, n: int = 400, seed: int = 5) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = rng.integers(20, 4000, n)
    outputs = rng.integers(2, 400, n)
    on = syn.frame(inputs, outputs, noise_ms=rng.normal(0, 5, n), **ON)
    off = syn.frame(inputs, outputs, noise_ms=rng.normal(0, 5, n), **OFF)
    return syn.write(tmp_path, "on", on), syn.write(tmp_path, "off", off), inputs, outputs


def test_fit_recovers_known_parameters_with_cis(tmp_path: Path) -> None:
    on_dir, off_dir, inputs, outputs = _pair(tmp_path)
    result = compare_runs(on_dir, off_dir, tmp_path / "cmp", n_boot=400, seed=2)
    fit = result["token_volume"]["fit"]
    assert fit is not None, result["token_volume"]["reason"]
    p = fit["params"]
    # E2EL = fixed + per_in·in + per_out·(out − 1): the fitted intercept is fixed − per_out.
    truth = {
        "fixed_ms_on": ON["fixed_ms"] - ON["per_out_ms"],
        "fixed_ms_off": OFF["fixed_ms"] - OFF["per_out_ms"],
        "per_input_token_ms_on": ON["per_in_ms"],
        "per_input_token_ms_off": OFF["per_in_ms"],
        "per_output_token_ms_on": ON["per_out_ms"],
        "per_output_token_ms_off": OFF["per_out_ms"],
    }
    for name, value in truth.items():
        assert p[name]["ci_low"] <= value <= p[name]["ci_high"], (name, p[name], value)
    assert p["per_output_token_ms_on"]["value"] == pytest.approx(10.4, rel=0.01)
    assert fit["r2_on"] > 0.99 and fit["r2_off"] > 0.99
    # Derived curve: overhead(T) = cost_on(T)/cost_off(T) − 1 at the output share φ.
    phi = fit["phi_output_share"]
    assert phi == pytest.approx(outputs.sum() / (inputs.sum() + outputs.sum()))

    def truth_curve(t: float) -> float:
        def cost(c: dict) -> float:
            return c["fixed_ms"] - c["per_out_ms"] + (c["per_in_ms"] * (1 - phi) + c["per_out_ms"] * phi) * t

        return 100 * (cost(ON) / cost(OFF) - 1)

    t_min, t_max = fit["token_range"]
    assert fit["overhead_at_max_pct"] == pytest.approx(truth_curve(t_max), abs=0.3)
    assert fit["overhead_at_min_pct"] == pytest.approx(truth_curve(t_min), rel=0.1)
    assert fit["overhead_at_min_pct"] > fit["overhead_at_max_pct"]  # the fixed cost fades with volume
    assert fit["change_per_10k_tokens_pct"] < 0
    # 4% per-token cost → the overhead never drops below 1%, but below 5% within the range.
    assert fit["tokens_below_1pct"] is None
    assert fit["tokens_below_5pct"] is not None
    pts = fit["curve"]
    assert len(pts["tokens"]) == len(pts["overhead_pct"]) >= 40
    assert all(
        lo <= v <= hi for lo, v, hi in zip(pts["ci_low"], pts["overhead_pct"], pts["ci_high"], strict=True)
    )
    bins = result["token_volume"]["bins"]
    assert len(bins) == tv.DEFAULT_BINS
    assert bins[0]["overhead_pct"] > bins[-1]["overhead_pct"]
    assert all(b["ci_low"] <= b["overhead_pct"] <= b["ci_high"] for b in bins)


def test_fixed_lengths_are_not_enough_for_a_law(tmp_path: Path) -> None:
    n = 120
    inputs, outputs = np.full(n, 128), np.full(n, 64)
    on = syn.write(tmp_path, "on", syn.frame(inputs, outputs, **ON))
    off = syn.write(tmp_path, "off", syn.frame(inputs, outputs, **OFF))
    result = tv.token_volume(load_leg([on], "on"), load_leg([off], "off"), np.ones((50, n)), np.ones((50, n)))
    assert result["fit"] is None
    assert result["reason"].startswith("not enough data")


def test_too_few_requests_are_not_enough(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 20
    inputs, outputs = rng.integers(10, 3000, n), rng.integers(2, 300, n)
    on = syn.write(tmp_path, "on", syn.frame(inputs, outputs, **ON))
    off = syn.write(tmp_path, "off", syn.frame(inputs, outputs, **OFF))
    result = compare_runs(on, off, tmp_path / "cmp", n_boot=200)
    assert result["token_volume"]["fit"] is None
    assert "successful requests" in result["token_volume"]["reason"]


def test_threshold_helper() -> None:
    t = np.array([1.0, 2.0, 3.0, 4.0])
    assert tv._threshold(t, np.array([9.0, 6.0, 4.0, 3.0]), 5.0) == 3.0
    assert tv._threshold(t, np.array([9.0, 6.0, 6.0, 5.5]), 5.0) is None
    assert tv._threshold(t, np.array([4.0, 3.0, 2.0, 1.0]), 5.0) == 1.0
