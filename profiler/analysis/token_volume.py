"""The token-volume law: how the TEE overhead changes with the tokens a request carries.

Two views of the same question, both with bootstrap CIs from the comparison's resample counts:

1. Adaptive bins: requests split at quantiles of T = input + output tokens (so every bin holds
   about as many requests), overhead of mean E2EL per bin.
2. A fitted model. Primary form, per leg by least squares over every request:

       E2EL_i = a + b·input_i + c·output_i          (fixed + per-input-token + per-output-token cost)

   giving overhead(T) = cost_on(T) / cost_off(T) − 1 at the data's output share φ = Σout / ΣT.
   It is chosen because it is the serving cost structure (prefill ∝ input, decode ∝ output, a
   fixed per-request cost: TLS/bounce-buffer setup in a TEE), uses all requests rather than a
   handful of bin means, and its parameters have units (ms, ms/token) an engineer can check.
   The alternative ``c + a·e^(−T/τ)`` is fitted to the bin overheads and both are scored by AIC on
   those bins; the report says which fits better. Derived answers (tokens at which overhead < 5%
   and < 1%, change per +10k tokens) come from the linear-cost curve, with bootstrap CIs.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from profiler.analysis import stats
from profiler.analysis.legs import LegData

DEFAULT_BINS = 5
#: The latency whose overhead the token-volume law models (end to end: prefill + decode).
METRIC = "e2el"
MIN_REQUESTS = 50  # per leg, for a fit
MIN_SPREAD = 2.0  # p95/p5 of tokens per request: below this there is no "volume" to model
GRID = 400


def tokens(leg: LegData) -> np.ndarray:
    total: np.ndarray = leg.input_tokens + leg.output_tokens
    return total


def bins(
    on: LegData, off: LegData, w_on: np.ndarray, w_off: np.ndarray, n_bins: int = DEFAULT_BINS
) -> list[dict[str, Any]]:
    t_on, t_off = tokens(on), tokens(off)
    pooled = np.concatenate([t_on[np.isfinite(on.request(METRIC))], t_off[np.isfinite(off.request(METRIC))]])
    if pooled.size == 0:
        return []
    edges = np.unique(np.quantile(pooled, np.linspace(0, 1, n_bins + 1)))
    if edges.size < 2:
        edges = np.array([edges[0], edges[0]])
    out = []
    for k in range(edges.size - 1):
        lo, hi = edges[k], edges[k + 1]
        last = k == edges.size - 2

        def member(t: np.ndarray, lo: float = lo, hi: float = hi, last: bool = last) -> np.ndarray:
            return (t >= lo) & ((t <= hi) if last else (t < hi))

        x_on = np.where(member(t_on), on.request(METRIC), np.nan)
        x_off = np.where(member(t_off), off.request(METRIC), np.nan)
        p_on, p_off = (
            np.nanmean(x_on) if np.isfinite(x_on).any() else np.nan,
            np.nanmean(x_off) if np.isfinite(x_off).any() else np.nan,
        )
        boot = stats.overhead(stats.weighted_mean(w_on, x_on), stats.weighted_mean(w_off, x_off), "latency")
        ci = stats.percentile_ci(boot)
        out.append(
            {
                "lo": float(lo),
                "hi": float(hi),
                "n_on": int(np.isfinite(x_on).sum()),
                "n_off": int(np.isfinite(x_off).sum()),
                "median_tokens": float(
                    np.median(pooled[(pooled >= lo) & ((pooled <= hi) if last else (pooled < hi))])
                ),
                "overhead_pct": _num(float(stats.overhead(p_on, p_off, "latency"))),
                "ci_low": ci[0] if ci else None,
                "ci_high": ci[1] if ci else None,
            }
        )
    return out


def _design(leg: LegData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    valid = np.isfinite(leg.request(METRIC)) & np.isfinite(leg.input_tokens) & np.isfinite(leg.output_tokens)
    x = np.column_stack([np.ones(leg.n), np.nan_to_num(leg.input_tokens), np.nan_to_num(leg.output_tokens)])
    return x, np.where(valid, leg.request(METRIC), 0.0), valid


def fit_linear(leg: LegData, w: np.ndarray) -> np.ndarray:
    """Weighted least squares per resample: (B × 3) [a ms, b ms/input token, c ms/output token]."""
    x, y, valid = _design(leg)
    wv = w * valid[None, :]
    outer = (x[:, :, None] * x[:, None, :]).reshape(leg.n, 9)
    a = (wv @ outer).reshape(-1, 3, 3)
    r = wv @ (x * y[:, None])
    # A tiny ridge keeps resamples that happen to be rank-deficient solvable (their estimates are
    # then wild and fall outside the percentile interval rather than crashing the comparison).
    a = a + np.eye(3)[None] * 1e-9 * np.maximum(a[:, 0:1, 0:1], 1)
    return np.linalg.solve(a, r[:, :, None])[:, :, 0]


def r_squared(leg: LegData, beta: np.ndarray) -> float:
    x, y, valid = _design(leg)
    resid = (y - x @ beta)[valid]
    total = y[valid] - y[valid].mean()
    return float(1 - (resid @ resid) / (total @ total)) if total @ total > 0 else math.nan


def curve(beta_on: np.ndarray, beta_off: np.ndarray, phi: float, t: np.ndarray) -> np.ndarray:
    """overhead(T) in % (rows: resamples, columns: T) from per-leg linear costs."""

    def cost(b: np.ndarray) -> np.ndarray:
        c: np.ndarray = b[:, 0:1] + (b[:, 1:2] * (1 - phi) + b[:, 2:3] * phi) * t[None, :]
        return c

    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = 100.0 * (cost(beta_on) / cost(beta_off) - 1)
    return out


def _exp_model(t: np.ndarray, c: float, a: float, tau: float) -> np.ndarray:
    return c + a * np.exp(-t / tau)


def _aic(sse: float, n: int, k: int) -> float | None:
    if n <= k or sse <= 0:
        return None
    return float(n * math.log(sse / n) + 2 * k)


def _threshold(t: np.ndarray, ov: np.ndarray, level: float) -> float | None:
    """Smallest T in the data range from which the overhead stays below ``level``%."""
    below = ov < level
    if not below[-1]:
        return None
    above = np.nonzero(~below)[0]
    return float(t[0] if above.size == 0 else t[above[-1] + 1])


def token_volume(
    on: LegData, off: LegData, w_on: np.ndarray, w_off: np.ndarray, *, n_bins: int = DEFAULT_BINS
) -> dict[str, Any]:
    table = bins(on, off, w_on, w_off, n_bins)
    result: dict[str, Any] = {"metric": f"{METRIC}_ms", "bins": table, "fit": None, "reason": None}
    reason = _not_enough(on, off, table)
    if reason:
        result["reason"] = f"not enough data: {reason}"
        return result
    ones_on, ones_off = np.ones((1, on.n)), np.ones((1, off.n))
    b_on, b_off = fit_linear(on, ones_on), fit_linear(off, ones_off)
    boot_on, boot_off = fit_linear(on, w_on), fit_linear(off, w_off)
    # Only requests the fit saw (an E2EL exists): the range and output share are theirs.
    fitted = [(leg, np.isfinite(leg.request(METRIC)) & np.isfinite(tokens(leg))) for leg in (on, off)]
    t_all = np.concatenate([tokens(leg)[m] for leg, m in fitted])
    out_all = sum(float(leg.output_tokens[m].sum()) for leg, m in fitted)
    phi = float(out_all / t_all.sum())
    t_lo, t_hi = float(np.quantile(t_all, 0.05)), float(np.quantile(t_all, 0.95))
    grid = np.linspace(t_all.min(), t_all.max(), GRID)
    ov = curve(b_on, b_off, phi, grid)[0]
    ov_boot = curve(boot_on, boot_off, phi, np.array([t_lo, t_hi]))
    slope = (ov_boot[:, 1] - ov_boot[:, 0]) / (t_hi - t_lo) * 10_000
    point_slope = float(
        (curve(b_on, b_off, phi, np.array([t_hi]))[0, 0] - curve(b_on, b_off, phi, np.array([t_lo]))[0, 0])
        / (t_hi - t_lo)
        * 10_000
    )
    slope_ci = stats.percentile_ci(slope)

    names = ("fixed_ms", "per_input_token_ms", "per_output_token_ms")
    params: dict[str, Any] = {}
    for leg_name, point, boot in (("on", b_on[0], boot_on), ("off", b_off[0], boot_off)):
        for i, name in enumerate(names):
            ci = stats.percentile_ci(boot[:, i])
            params[f"{name}_{leg_name}"] = {
                "value": float(point[i]),
                "ci_low": ci and ci[0],
                "ci_high": ci and ci[1],
            }

    centers = np.array([b["median_tokens"] for b in table])
    observed = np.array([b["overhead_pct"] if b["overhead_pct"] is not None else np.nan for b in table])
    counts = np.array([b["n_on"] + b["n_off"] for b in table], dtype=float)
    lin_pred = curve(b_on, b_off, phi, centers)[0]
    good = np.isfinite(observed)
    sse_lin = float(np.sum(counts[good] * (observed[good] - lin_pred[good]) ** 2) / counts[good].mean())
    alt = _fit_exp(centers[good], observed[good], counts[good])
    aic_lin = _aic(sse_lin, int(good.sum()), 3)
    chosen = "linear-cost"
    if alt and alt["aic_bins"] is not None and aic_lin is not None and alt["aic_bins"] < aic_lin - 2:
        chosen = "exp-decay"
    result["fit"] = {
        "form": "linear-cost",
        "equation": "E2EL_i = fixed + per_input_token·input_i + per_output_token·output_i (per leg); "
        "overhead(T) = cost_on(T)/cost_off(T) − 1 at output share φ",
        "params": params,
        "phi_output_share": phi,
        "r2_on": r_squared(on, b_on[0]),
        "r2_off": r_squared(off, b_off[0]),
        "aic_bins": aic_lin,
        "alternative": alt,
        "better_fit_on_bins": chosen,
        "token_range": [float(t_all.min()), float(t_all.max())],
        "overhead_at_min_pct": _num(float(ov[0])),
        "overhead_at_max_pct": _num(float(ov[-1])),
        "tokens_below_5pct": _threshold(grid, ov, 5.0),
        "tokens_below_1pct": _threshold(grid, ov, 1.0),
        "change_per_10k_tokens_pct": _num(point_slope),
        "change_per_10k_tokens_ci": list(slope_ci) if slope_ci else None,
        "change_unit": "percentage points of overhead per +10k tokens/request, measured p5→p95 of T",
        "extrapolated": (t_hi - t_lo) < 10_000,
        "curve": _curve_points(b_on, b_off, boot_on, boot_off, phi, grid),
    }
    return result


def _curve_points(
    b_on: np.ndarray,
    b_off: np.ndarray,
    boot_on: np.ndarray,
    boot_off: np.ndarray,
    phi: float,
    grid: np.ndarray,
) -> dict[str, list[float | None]]:
    """~50 points of the fitted curve with its pointwise 95% band, for plots."""
    t = grid[:: max(1, grid.size // 50)]
    band = curve(boot_on, boot_off, phi, t)
    finite = np.isfinite(band).all(axis=1)
    lo, hi = (
        np.quantile(band[finite], [0.025, 0.975], axis=0) if finite.sum() >= 20 else (t * np.nan, t * np.nan)
    )
    return {
        "tokens": [float(x) for x in t],
        "overhead_pct": [_num(float(x)) for x in curve(b_on, b_off, phi, t)[0]],
        "ci_low": [_num(float(x)) for x in lo],
        "ci_high": [_num(float(x)) for x in hi],
    }


def _not_enough(on: LegData, off: LegData, table: list[dict[str, Any]]) -> str | None:
    n_on, n_off = int(np.isfinite(on.request(METRIC)).sum()), int(np.isfinite(off.request(METRIC)).sum())
    if min(n_on, n_off) < MIN_REQUESTS:
        return f"{min(n_on, n_off)} successful requests in a leg (a fit needs ≥ {MIN_REQUESTS})"
    t = np.concatenate([tokens(on), tokens(off)])
    t = t[np.isfinite(t)]
    p5, p95 = np.quantile(t, [0.05, 0.95])
    if p5 <= 0 or p95 / p5 < MIN_SPREAD:
        return (
            f"tokens per request span only {p5:.0f}–{p95:.0f} (p5–p95); "
            f"a volume law needs ≥ {MIN_SPREAD:.0f}× spread"
        )
    if sum(1 for b in table if min(b["n_on"], b["n_off"]) >= 10) < 3:
        return "fewer than 3 token bins with ≥ 10 requests per leg"
    for leg in (on, off):
        x, _, valid = _design(leg)
        if np.linalg.matrix_rank(x[valid]) < 3:
            return (
                f"{leg.label} leg: input and output lengths are collinear, "
                "per-token costs are not identifiable"
            )
    return None


def _fit_exp(t: np.ndarray, y: np.ndarray, n: np.ndarray) -> dict[str, Any] | None:
    """c + a·e^(−T/τ) on the bin overheads (weighted by requests per bin); None if it cannot fit."""
    if t.size < 4:
        return None
    sigma = 1 / np.sqrt(n / n.mean())
    p0 = (float(y[-1]), float(y[0] - y[-1]), float(np.median(t)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            popt, _ = curve_fit(
                _exp_model, t, y, p0=p0, sigma=sigma, maxfev=5000, bounds=([-np.inf, -np.inf, 1e-3], np.inf)
            )
    except (RuntimeError, ValueError):
        return None
    if popt[2] > 10 * (t.max() - t.min()):
        return {
            "form": "exp-decay",
            "params": {"c_pct": float(popt[0]), "a_pct": float(popt[1]), "tau_tokens": float(popt[2])},
            "aic_bins": None,
            "note": "degenerate: τ lies far beyond the data, the curve is a straight line; not a decay",
        }
    sse = float(np.sum((y - _exp_model(t, *popt)) ** 2 / sigma**2))
    return {
        "form": "exp-decay",
        "equation": "overhead(T) = c + a·exp(−T/τ), fitted to the bin overheads",
        "params": {"c_pct": float(popt[0]), "a_pct": float(popt[1]), "tau_tokens": float(popt[2])},
        "aic_bins": _aic(sse, int(t.size), 3),
        "note": "point fit on bin means only (few points): its parameters carry no CI",
    }


def _num(x: float) -> float | None:
    return x if np.isfinite(x) else None
