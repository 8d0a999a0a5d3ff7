"""What every suite shares: the plug-in record, the tidy results table, repeats, persistence.

A suite measures one repetition at a time and appends rows to :class:`Rows`; :func:`run_suite`
runs the repetitions, shows progress, and writes one run directory (DESIGN §5) with
``manifest.kind = <suite name>``, ``results.parquet`` (one row per measurement) and a
``summary.json`` (mean/std/min/max per metric and case over the repetitions). A run stopped by
an error or Ctrl-C keeps what was measured, marked ``incomplete`` with the reason.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from catalog.registry import Registry
from profiler.errors import UserError

#: Columns of ``results.parquet``. ``case`` names the parameter combination a value belongs to
#: ("threads=4", "job=randread-4k-qd64", "concurrency=8 scheme=https"); (metric, case) is the
#: key that compare matches between legs. ``direction`` uses comparison.json's vocabulary:
#: "latency" (lower is better) or "throughput" (higher is better).
RESULT_COLUMNS: tuple[str, ...] = (
    "suite",
    "metric",
    "unit",
    "direction",
    "case",
    "value",
    "threads",
    "repeat",
    "params",
)

DIRECTIONS = ("latency", "throughput")
RESULTS_TABLE = "results"


class SuiteSkipped(Exception):
    """The suite cannot run here for a reason that is not an error (e.g. no CUDA device)."""


@dataclass
class Rows:
    """Accumulates tidy measurement rows for one suite run."""

    suite: str
    repeat: int = 0
    _rows: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        metric: str,
        value: float,
        *,
        unit: str,
        direction: str,
        case: str = "",
        threads: int | None = None,
        **params: Any,
    ) -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
        self._rows.append(
            {
                "suite": self.suite,
                "metric": metric,
                "unit": unit,
                "direction": direction,
                "case": case,
                "value": float(value) if value is not None else math.nan,
                "threads": threads,
                "repeat": self.repeat,
                "params": json.dumps(params, sort_keys=True, default=str),
            }
        )

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self._rows, columns=list(RESULT_COLUMNS))
        frame["threads"] = frame["threads"].astype("Int64")
        frame["repeat"] = frame["repeat"].astype("int64")
        frame["value"] = frame["value"].astype("float64")
        return frame

    def __len__(self) -> int:
        return len(self._rows)


Tick = Callable[[str], None]


@dataclass(frozen=True)
class Suite:
    """A plug-in. ``measure(args, rows, tick)`` runs ONE repetition and appends rows.

    ``prepare(args)`` checks tools and options before anything is written (raise ``UserError``
    or ``SuiteSkipped``) and returns the resolved parameters stored in the manifest.
    ``steps(args)`` is the number of ``tick`` calls one repetition makes (for the progress bar).
    ``run`` replaces the whole repeat/persist machinery (the llm suite hands over to a profile).
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    measure: Callable[[argparse.Namespace, Rows, Tick], None] | None = None
    prepare: Callable[[argparse.Namespace], dict[str, Any]] | None = None
    steps: Callable[[argparse.Namespace], int] | None = None
    run: Callable[[argparse.Namespace], int] | None = None
    description: str = ""


SUITES: Registry[Suite] = Registry("suite")


# --------------------------------------------------------------------------- option parsing


def int_list(text: str) -> list[int]:
    """'1,2,4' → [1, 2, 4]; argparse ``type=`` helper with a readable error."""
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def doubling_up_to(n: int) -> list[int]:
    """1, 2, 4, … up to and including ``n`` (``n`` itself is added when not a power of two)."""
    out, k = [], 1
    while k < n:
        out.append(k)
        k *= 2
    out.append(n)
    return out


def size_bytes(text: str) -> int:
    """'64M' / '1G' / '512k' / '4096' → bytes (binary multiples, like fio)."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    s = str(text).strip().lower().removesuffix("ib").removesuffix("b")
    mult = units.get(s[-1:], 1)
    num = s[:-1] if s[-1:] in units else s
    try:
        value = int(float(num) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size like 64M or 1G, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return value


# --------------------------------------------------------------------------- environment


def environment() -> dict[str, Any]:
    """The host's fingerprint (profiler.env), recorded with every suite run."""
    from profiler.env import fingerprint

    return dict(fingerprint())


# --------------------------------------------------------------------------- summary


def summarize_results(frame: pd.DataFrame) -> dict[str, Any]:
    """Per (metric, case): mean, std, min, max, n over repetitions, plus unit and direction."""
    metrics: list[dict[str, Any]] = []
    if not frame.empty:
        for (metric, case), grp in frame.groupby(["metric", "case"], sort=False):
            vals = grp["value"].dropna()
            metrics.append(
                {
                    "metric": metric,
                    "case": case,
                    "unit": grp["unit"].iloc[0],
                    "direction": grp["direction"].iloc[0],
                    "mean": float(vals.mean()) if len(vals) else math.nan,
                    "std": float(vals.std(ddof=1)) if len(vals) > 1 else math.nan,
                    "min": float(vals.min()) if len(vals) else math.nan,
                    "max": float(vals.max()) if len(vals) else math.nan,
                    "n": len(vals),
                }
            )
    repeats = int(frame["repeat"].nunique()) if not frame.empty else 0
    return {"kind": "suite", "repeats": repeats, "metrics": metrics}


# --------------------------------------------------------------------------- running


@contextmanager
def _progress(total: int, label: str) -> Iterator[Tick]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=max(total, 1))

        def tick(desc: str) -> None:
            progress.update(task, advance=1, description=f"{label}: {desc}")

        yield tick


def run_suite(suite: Suite, args: argparse.Namespace, *, quiet: bool = False) -> Path:
    """Run ``args.repeats`` repetitions of ``suite`` and write one run directory; return it."""
    from profiler.store import STATUS_COMPLETE, STATUS_INCOMPLETE, RunWriter

    if suite.measure is None:
        raise ValueError(f"suite {suite.name} has no measure function")
    repeats = int(getattr(args, "repeats", 1) or 1)
    if repeats < 1:
        raise UserError("--repeats must be at least 1")
    params = suite.prepare(args) if suite.prepare else {}
    manifest: Mapping[str, Any] = {
        "kind": suite.name,
        "label": args.label,
        "model": None,
        "suite": {"name": suite.name, "params": params, "repeats": repeats},
        "environment": environment(),
    }
    writer = RunWriter(Path(args.out), manifest)
    writer.start()
    rows = Rows(suite.name)
    steps = suite.steps(args) if suite.steps else 1
    status, reason = STATUS_COMPLETE, None
    try:
        with _progress(repeats * steps, suite.name) if not quiet else _null_tick() as tick:
            for r in range(repeats):
                rows.repeat = r
                suite.measure(args, rows, tick)
    except KeyboardInterrupt:
        status, reason = STATUS_INCOMPLETE, "interrupted (Ctrl-C)"
        _finish(writer, rows, status, reason)
        raise
    except (UserError, SuiteSkipped, OSError, RuntimeError, ValueError) as exc:
        status, reason = STATUS_INCOMPLETE, f"{type(exc).__name__}: {exc}"
        path = _finish(writer, rows, status, reason)
        raise UserError(f"suite {suite.name} stopped: {exc} (partial results in {path})") from exc
    except Exception as exc:  # a bug: keep the data and the traceback
        _finish(writer, rows, STATUS_INCOMPLETE, f"{type(exc).__name__}: {exc}")
        raise
    return _finish(writer, rows, status, reason)


@contextmanager
def _null_tick() -> Iterator[Tick]:
    yield lambda _desc: None


def _finish(writer: Any, rows: Rows, status: str, reason: str | None) -> Path:
    frame = rows.frame()
    path: Path = writer.finish(
        summary=summarize_results(frame),
        tables={RESULTS_TABLE: frame},
        status=status,
        reason=reason,
    )
    return path
