"""Drawing the fitted token-volume curve of comparison.json (``token_volume.fit``).

The analysis stores the fit as a form name and parameter values; a curve is drawn from
sampled points (``fit.curve``) when the analysis stored them, otherwise by evaluating the
named form here. Forms register by name (no if/elif); an unknown form is not guessed at:
the report shows the buckets and says the curve could not be drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from catalog.registry import Registry

#: A form maps (tokens, parameter values, the whole fit dict) → overhead in %.
FitForm = Callable[[np.ndarray, Mapping[str, float], Mapping[str, Any]], np.ndarray]

FORMS: Registry[tuple[str, FitForm]] = Registry("token-volume fit form")


def _linear_cost(t: np.ndarray, p: Mapping[str, float], fit: Mapping[str, Any]) -> np.ndarray:
    """Per leg E2EL = fixed + per-input-token·in + per-output-token·out; at output share φ of
    T tokens, overhead(T) = cost_on(T) / cost_off(T) − 1 (profiler.analysis.token_volume)."""
    phi = float(fit["phi_output_share"])

    def cost(leg: str) -> np.ndarray:
        per_token = p[f"per_input_token_ms_{leg}"] * (1 - phi) + p[f"per_output_token_ms_{leg}"] * phi
        return p[f"fixed_ms_{leg}"] + per_token * t

    return 100.0 * (cost("on") / cost("off") - 1)


def _exp_decay(t: np.ndarray, p: Mapping[str, float], fit: Mapping[str, Any]) -> np.ndarray:
    return p["c_pct"] + p["a_pct"] * np.exp(-t / p["tau_tokens"])


FORMS.add("linear-cost", ("fixed + per-token cost per leg", _linear_cost))
FORMS.add("exp-decay", ("c + a·e^(−T/τ)", _exp_decay))


def band(fit: Mapping[str, Any] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(tokens, low, high) of the stored pointwise 95% band of the curve, if the analysis gave one."""
    stored = (fit or {}).get("curve")
    if not isinstance(stored, Mapping):
        return None
    tx, lo, hi = stored.get("tokens"), stored.get("ci_low"), stored.get("ci_high")
    if not tx or not lo or not hi or not len(tx) == len(lo) == len(hi):
        return None
    x, low, high = _floats(tx), _floats(lo), _floats(hi)
    return (x, low, high) if np.isfinite(low).any() and np.isfinite(high).any() else None


def _floats(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def params(fit: Mapping[str, Any]) -> dict[str, float]:
    """``{name: {value, ci_low, ci_high}}`` or ``{name: value}`` → ``{name: value}``."""
    out: dict[str, float] = {}
    for name, spec in (fit.get("params") or {}).items():
        value = spec.get("value") if isinstance(spec, Mapping) else spec
        if value is not None:
            out[str(name)] = float(value)
    return out


def describe(fit: Mapping[str, Any] | None) -> str:
    if not fit:
        return "no fit"
    form = str(fit.get("form", "?"))
    formula = FORMS.get(form)[0] if form in FORMS else form
    return formula


def curve(fit: Mapping[str, Any] | None, xs: Sequence[float]) -> tuple[np.ndarray, np.ndarray] | None:
    """Points of the fitted curve over the span of the buckets, or None if it cannot be drawn."""
    if not fit:
        return None
    stored = fit.get("curve")
    if isinstance(stored, Mapping):
        tx, ty = stored.get("tokens"), stored.get("overhead_pct")
        if tx and ty and len(tx) == len(ty):
            return _floats(tx), _floats(ty)
    form = str(fit.get("form", ""))
    if form not in FORMS:
        return None
    span = fit.get("token_range")
    if span and len(span) == 2 and span[0] is not None and span[1] is not None:
        lo, hi = max(float(span[0]), 1.0), float(span[1])  # draw only where there was data
    else:
        lo = max(min(xs) * 0.7, 1.0) if xs else 1.0
        hi = max(xs) * 1.3 if xs else 10_000.0
    grid = np.geomspace(lo, hi, 200) if hi / lo > 20 else np.linspace(lo, hi, 200)
    try:
        ys = FORMS.get(form)[1](grid, params(fit), fit)
    except (KeyError, ZeroDivisionError, FloatingPointError):
        return None  # parameters named differently than this form expects: do not guess
    if not np.all(np.isfinite(ys)) or not math.isfinite(float(np.nanmax(np.abs(ys)))):
        return None
    return grid, ys
