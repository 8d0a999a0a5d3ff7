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

from typing import Any

import numpy as np
import pandas as pd

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


def paper_view(on: pd.DataFrame, off: pd.DataFrame) -> dict[str, Any]:
    """``comparison.json``'s ``paper_compat`` block for the two legs' request frames."""
    return {"label": LABEL, "on": leg_view(on), "off": leg_view(off)}
