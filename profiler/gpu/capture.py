"""A gpu-suite run as one JSON document: what the device check writes and the tests replay.

A run directory holds several files (manifest, results.parquet, summary); the device check may
bring back only a few files, so it folds one run into ``suite_gpu.json``: the manifest, the
summary and every result row with its params decoded. :func:`check_capture` is what a test runs
over a committed capture: every row carries the CC label and a timing verdict, values are
positive, and each fit row is reproduced by refitting the per-size rows it came from.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from profiler.gpu.fit import fit_copy_times
from profiler.gpu.timing import FLAGS

SCHEMA = "tee-llm-prof/gpu-suite-capture/1"
STEPS = ("copy", "launch", "graph", "matmul")


def export_run(path: Path, source: str) -> dict[str, Any]:
    """The run directory at ``path`` as a capture document (readable with json alone)."""
    from profiler.results.files import clean
    from profiler.store import read_run

    run = read_run(path)
    frame = run.table("results")
    rows: list[dict[str, Any]] = []
    if frame is not None:
        for raw in frame.to_dict(orient="records"):
            rec = {str(k): v for k, v in raw.items()}
            rec["params"] = json.loads(rec["params"]) if rec.get("params") else {}
            rec["threads"] = None if rec.get("threads") is None or rec["threads"] != rec["threads"] \
                else int(rec["threads"])
            rows.append(rec)
    summary = run.summary.model_dump() if run.summary is not None else None
    return {"schema": SCHEMA, "source": source, "manifest": clean(run.manifest.model_dump()),
            "summary": clean(summary), "results": rows}


def _refit_problems(rows: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    fits = [r for r in rows if r["case"] == "fit" and r["metric"].endswith("_latency")]
    for f in fits:
        cfg = f["metric"].removesuffix("_latency")
        pts = [r for r in rows if r["metric"] == cfg and r["repeat"] == f["repeat"]]
        again = fit_copy_times([p["params"]["bytes"] for p in pts],
                               [p["params"]["us_per_copy"] / 1e6 for p in pts])
        if not again.ok or again.latency_us is None or \
                not math.isclose(again.latency_us, f["value"], rel_tol=1e-3, abs_tol=0.01):
            problems.append(f"{f['metric']} repeat {f['repeat']}: refit gives {again.latency_us}, "
                            f"row says {f['value']}")
    return problems


def check_capture(data: dict[str, Any]) -> list[str]:
    """Problems with a capture (empty when it is consistent)."""
    problems: list[str] = []
    if data.get("schema") != SCHEMA:
        return [f"schema is {data.get('schema')!r}, not {SCHEMA}"]
    manifest = data.get("manifest") or {}
    if manifest.get("kind") != "gpu":
        problems.append(f"manifest kind is {manifest.get('kind')!r}, not 'gpu'")
    cc = ((manifest.get("suite") or {}).get("params") or {}).get("cc") or {}
    label = cc.get("cc")
    if label not in ("on", "off", "unknown"):
        problems.append(f"manifest has no CC label (params.cc.cc = {label!r})")
    rows = data.get("results") or []
    if not rows:
        problems.append("no result rows")
    for r in rows:
        p, where = r.get("params") or {}, f"{r.get('metric')} [{r.get('case')}]"
        if p.get("cc") != label:
            problems.append(f"{where}: cc {p.get('cc')!r} differs from the manifest's {label!r}")
        if p.get("step") not in STEPS:
            problems.append(f"{where}: unknown step {p.get('step')!r}")
        if "events" in p and p["events"] not in FLAGS:
            problems.append(f"{where}: unknown event verdict {p['events']!r}")
        if "events" in p and p.get("timing") != "host":
            problems.append(f"{where}: timed rows must report the host figure")
        v = r.get("value")
        bad = not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0
        if bad and not str(r.get("metric", "")).endswith("_latency"):  # a fitted latency may be ~0
            problems.append(f"{where}: value {v!r} is not a positive number")
    return problems + _refit_problems(rows)
