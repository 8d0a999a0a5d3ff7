"""The paper-compatible view: arXiv:2409.03992's own statistics, reproduced exactly (DESIGN §3).

These are NOT the standard metrics and are labelled as such wherever they appear:

- per request, decode = Σ of its ITLs (seconds);
- "ITL" = mean decode over requests (a per-request decode *time*, not an inter-token latency);
- "TPS" = mean over requests of output_tokens / decode (a per-request decode rate);
- "TTFT" = mean TTFT in seconds;
- rows kept only where input + output > 4 and output > 2 (the authors' filter);
- buckets by input + output tokens: short ≤ 100, medium 101–500, long > 500.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from profiler.analysis import stats
from profiler.results.comparison import PaperLeg, PaperView

LABEL = (
    "paper-compatible view (arXiv:2409.03992): 'ITL' = mean per-request Σ ITL (s), "
    "'TPS' = mean per-request output/ΣITL; rows with input+output ≤ 4 or output ≤ 2 dropped"
)

#: (name, lowest tokens, highest tokens) — inclusive, by input + output tokens.
BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("short", 0, 100),
    ("medium", 101, 500),
    ("long", 501, float("inf")),
)


def per_request(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows the paper keeps, with its per-request decode time (s) and rate (tokens/s)."""
    ok = frame[frame["ok"].astype(bool)]
    inp = ok["input_tokens"].astype(float)
    out = ok["output_tokens"].astype(float)
    keep = (inp + out > 4) & (out > 2)
    rows = ok[keep]
    decode_s = np.array([float(np.sum(v)) / 1e3 for v in rows["itl_ms"]])
    return pd.DataFrame(
        {
            "tokens": (rows["input_tokens"] + rows["output_tokens"]).to_numpy(float),
            "ttft_s": rows["ttft_ms"].to_numpy(float) / 1e3,
            "decode_s": decode_s,
            # A request whose tokens all came in one chunk has no decode time: no rate.
            "tps": np.where(
                decode_s > 0,
                rows["output_tokens"].to_numpy(float) / np.where(decode_s > 0, decode_s, 1),
                np.nan,
            ),
        }
    )


def leg_view(frame: pd.DataFrame) -> dict[str, Any]:
    rows = per_request(frame)
    buckets = {}
    for name, lo, hi in BUCKETS:
        sel = rows[(rows["tokens"] >= lo) & (rows["tokens"] <= hi)]
        buckets[name] = {"count": len(sel), "tps": _mean(sel["tps"])}
    return {
        "samples": len(rows),
        "ttft_s": _mean(rows["ttft_s"]),
        "itl_s": _mean(rows["decode_s"]),
        "tps": _mean(rows["tps"]),
        "buckets": buckets,
    }


def _mean(values: pd.Series) -> float | None:
    arr = values.to_numpy(float)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else None


#: (overhead key, how to read it from a leg's view, direction) — "TPS" is a rate: throughput.
OVERHEADS: tuple[tuple[str, Callable[[PaperLeg], float | None], str], ...] = (
    ("ttft", lambda v: v.ttft_s, "latency"),
    ("itl", lambda v: v.itl_s, "latency"),
    ("tps", lambda v: v.tps, "throughput"),
    *(
        (f"tps_{name}", (lambda v, n=name: v.buckets[n].tps), "throughput")
        for name, _, _ in BUCKETS
    ),
)


def paper_view(on: pd.DataFrame, off: pd.DataFrame) -> PaperView:
    """``comparison.json``'s ``paper_compat`` block for the two legs' request frames, with the
    overhead of each of its statistics (point estimates, as the paper gives them)."""
    v_on, v_off = PaperLeg.model_validate(leg_view(on)), PaperLeg.model_validate(leg_view(off))
    overheads: dict[str, float | None] = {}
    for key, get, direction in OVERHEADS:
        a, b = get(v_on), get(v_off)
        value = float(stats.overhead(a, b, direction)) if a is not None and b is not None else math.nan
        overheads[key] = value if math.isfinite(value) else None
    return PaperView(label=LABEL, on=v_on, off=v_off, overheads=overheads)
