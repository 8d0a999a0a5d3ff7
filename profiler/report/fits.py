"""Drawing the fitted token-volume curve of comparison.json (``token_volume.fit``).

The analysis stores the fit as a form name and parameter values; a curve is drawn from
sampled points (``fit.curve``) when the analysis stored them, otherwise by evaluating the
named form here. Forms register by name (no if/elif); an unknown form is not guessed at:
the report shows the buckets and says the curve could not be drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from catalog.registry import Registry
from profiler.results.comparison import AltFit, VolumeFit

Fit = VolumeFit | AltFit
#: A form maps (tokens, parameter values, the fit) → overhead in %.
FitForm = Callable[[np.ndarray, Mapping[str, float], Fit], np.ndarray]

FORMS: Registry[tuple[str, FitForm]] = Registry("token-volume fit form")


def _linear_cost(t: np.ndarray, p: Mapping[str, float], fit: Fit) -> np.ndarray:
    """Per leg E2EL = fixed + per-input-token·in + per-output-token·out; at output share φ of
    T tokens, overhead(T) = cost_on(T) / cost_off(T) − 1 (profiler.analysis.token_volume)."""
    assert isinstance(fit, VolumeFit)
    phi = float(fit.phi_output_share)

    def cost(leg: str) -> np.ndarray:
        per_token = p[f"per_input_token_ms_{leg}"] * (1 - phi) + p[f"per_output_token_ms_{leg}"] * phi
        return p[f"fixed_ms_{leg}"] + per_token * t

    out: np.ndarray = 100.0 * (cost("on") / cost("off") - 1)
    return out


def _exp_decay(t: np.ndarray, p: Mapping[str, float], fit: Fit) -> np.ndarray:
    return p["c_pct"] + p["a_pct"] * np.exp(-t / p["tau_tokens"])


FORMS.add("linear-cost", ("fixed + per-token cost per leg", _linear_cost))
FORMS.add("exp-decay", ("c + a·e^(−T/τ)", _exp_decay))


def band(fit: VolumeFit | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(tokens, low, high) of the stored pointwise 95% band of the curve, if the analysis gave one."""
    if fit is None or fit.curve is None:
        return None
    c = fit.curve
    if not c.tokens or not len(c.tokens) == len(c.ci_low) == len(c.ci_high):
        return None
    x, low, high = _floats(c.tokens), _floats(c.ci_low), _floats(c.ci_high)
    return (x, low, high) if np.isfinite(low).any() and np.isfinite(high).any() else None


def _floats(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def params(fit: Fit) -> dict[str, float]:
    """The fit's parameter values by name (CIs dropped)."""
    if isinstance(fit, AltFit):
        return {k: float(v) for k, v in fit.params.items()}
    return {k: float(p.value) for k, p in fit.params.items() if p.value is not None}


def describe(fit: Fit | None) -> str:
    if fit is None:
        return "no fit"
    return FORMS.get(fit.form)[0] if fit.form in FORMS else fit.form


def curve(
    fit: Fit | None, xs: Sequence[float], token_range: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Points of the fitted curve over the span of the data, or None if it cannot be drawn."""
    if fit is None:
        return None
    if isinstance(fit, VolumeFit) and fit.curve is not None and fit.curve.tokens:
        c = fit.curve
        if len(c.tokens) == len(c.overhead_pct):
            return _floats(c.tokens), _floats(c.overhead_pct)
    if fit.form not in FORMS:
        return None
    span = token_range or (fit.token_range if isinstance(fit, VolumeFit) else None)
    if span and len(span) == 2:
        lo, hi = max(float(span[0]), 1.0), float(span[1])  # draw only where there was data
    else:
        lo = max(min(xs) * 0.7, 1.0) if xs else 1.0
        hi = max(xs) * 1.3 if xs else 10_000.0
    grid = np.geomspace(lo, hi, 200) if hi / lo > 20 else np.linspace(lo, hi, 200)
    try:
        ys = FORMS.get(fit.form)[1](grid, params(fit), fit)
    except (KeyError, ZeroDivisionError, FloatingPointError):
        return None  # parameters named differently than this form expects: do not guess
    if not np.all(np.isfinite(ys)) or not math.isfinite(float(np.nanmax(np.abs(ys)))):
        return None
    return grid, ys
