"""A profile: resolve the two legs → run the same seeded workload on each, per load point and
repeat → tie the run directories together in ``profile.json`` → compare → report (DESIGN §2, §4).

Legs come from ``--tee-on/--tee-off``, else from models.yaml ``endpoints``, else from the
model's engine, launched here (the embedded default). One endpoint serves both legs in the last
case and whenever only one URL is known: the profile is then an A/A calibration, whose
differences are noise by construction, and every output says so.

Repeats interleave in ABBA order (on, off, off, on, …) so slow drift of the host or the
server cancels between the legs. Within one repeat both legs get identical prompts, lengths
and arrival times (same seed); each repeat uses its own seed, so repeats are not copies of
each other. In an A/A profile one server sees each prompt twice (once per leg): engines
launched here run without prefix caching so the second leg gains nothing from the first; an
external server used A/A should do the same (vLLM: --no-enable-prefix-caching).

Profile directory::

    <out>/<profile_id>/profile.json
    <out>/<profile_id>/runs/<run_id>/...             one per leg × load point × repeat
    <out>/<profile_id>/compare/<load point>/...      comparison.json (+ report files)
    <out>/<profile_id>/engine/*.log                  logs of engines launched here
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from profiler.config import ModelEntry, WorkloadSpec
from profiler.engines import ENGINES, Endpoint, LaunchOptions
from profiler.engines.external import probe
from profiler.errors import UserError
from profiler.store import (
    PROFILE,
    SCHEMA_VERSION,
    STATUS_INCOMPLETE,
    STATUS_RUNNING,
    read_json,
    utc_now,
    write_json,
)

AA_NOTE = (
    "A/A calibration: both legs are the same endpoint, so every difference below is noise "
    "(the noise floor of this setup), not a TEE overhead."
)


@dataclass(frozen=True)
class Leg:
    label: str  # "on" | "off"
    base_url: str
    served_model: str
    engine: dict[str, Any] = field(default_factory=dict)
    metrics_url: str | None = None
    tokenizer: str | None = None


def is_aa(leg_list: list[Leg]) -> bool:
    return len({leg.base_url.rstrip("/") for leg in leg_list}) < 2


def _from_endpoint(label: str, ep: Endpoint) -> Leg:
    return Leg(label, ep.base_url, ep.served_model, dict(ep.engine), ep.metrics_url, ep.tokenizer)


@contextlib.contextmanager
def legs(
    entry: ModelEntry,
    tee_on: str | None = None,
    tee_off: str | None = None,
    *,
    key: str | None = None,
    port: int | None = None,
    log_dir: Path | None = None,
    console: Console | None = None,
) -> Iterator[list[Leg]]:
    """Yield ``[on, off]`` legs; launch the model's engine when no endpoint is known, and
    always stop it when the block ends (exception and Ctrl-C included)."""
    on = tee_on or entry.endpoints.tee_on
    off = tee_off or entry.endpoints.tee_off
    urls = [u for u in (on, off) if u]
    if urls:
        eps = {u: probe(u, entry.served_name) for u in dict.fromkeys(urls)}
        yield [_from_endpoint("on", eps[on or off]), _from_endpoint("off", eps[off or on])]  # type: ignore[index]
        return
    engine = ENGINES.get(entry.engine.name)
    opts = LaunchOptions(port=port, log_dir=log_dir, console=console)
    with engine.launch(entry, key or entry.served_name, opts) as ep:
        yield [_from_endpoint("on", ep), _from_endpoint("off", ep)]


# --------------------------------------------------------------------------- the plan


def point_name(rate: float) -> str:
    return "rate=inf" if math.isinf(rate) else f"rate={rate:g}"


def abba(repeats: int, labels: tuple[str, str] = ("on", "off")) -> list[tuple[int, str]]:
    """(repeat, label) in ABBA order: on, off, off, on, on, off, …"""
    a, b = labels
    order: list[tuple[int, str]] = []
    for i in range(repeats):
        order += [(i, a), (i, b)] if i % 2 == 0 else [(i, b), (i, a)]
    return order


def leg_workload(workload: WorkloadSpec, rate: float, repeat: int) -> WorkloadSpec:
    """The workload of one run: one rate, one repeat, seed = base seed + repeat."""
    return workload.model_copy(update={"request_rates": [rate], "repeats": 1, "seed": workload.seed + repeat})


# --------------------------------------------------------------------------- profile.json


class ProfileManifest:
    """profile.json, rewritten after every run so an interrupted profile is still readable."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.dir = path
        self.data = data

    @classmethod
    def create(
        cls, out: Path, profile_id: str, *, model: str, aa: bool, legs_: list[Leg],
        workload: WorkloadSpec, extra: dict[str, Any] | None = None,
    ) -> ProfileManifest:
        path = Path(out) / profile_id
        if (path / PROFILE).exists():
            raise UserError(f"{path} already holds a profile; choose another --profile-id or --out")
        (path / "runs").mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "kind": "profile",
            "profile_id": profile_id,
            "model": model,
            "aa": aa,
            "note": AA_NOTE if aa else None,
            "status": STATUS_RUNNING,
            "reason": None,
            "started": utc_now(),
            "finished": None,
            "engine": legs_[0].engine if aa else {leg.label: leg.engine for leg in legs_},
            "legs": {
                leg.label: {"base_url": leg.base_url, "served_model": leg.served_model} for leg in legs_
            },
            "workload": workload.model_dump(mode="json"),
            "order": "ABBA (on, off, off, on, …) per load point",
            "load_points": [
                {
                    "name": point_name(r), "request_rate": r, "concurrency": workload.concurrency,
                    "runs": {leg.label: [] for leg in legs_}, "comparison": None,
                }
                for r in workload.request_rates
            ],
            **(extra or {}),
        }
        manifest = cls(path, data)
        manifest.save()
        return manifest

    def save(self) -> None:
        write_json(self.dir / PROFILE, self.data)

    def add_run(self, point: int, label: str, run_dir: Path) -> None:
        self.data["load_points"][point]["runs"][label].append(str(run_dir.relative_to(self.dir)))
        self.save()

    def finish(self, status: str, reason: str | None = None) -> None:
        self.data.update(status=status, reason=reason, finished=utc_now())
        self.save()


def read_profile(path: Path) -> dict[str, Any]:
    return read_json(Path(path) / PROFILE)


# --------------------------------------------------------------------------- running it

#: (runs dir, leg, workload, rate, extra manifest) -> run dir; profiler.runs.execute_run by default
RunFn = Callable[[Path, Leg, WorkloadSpec, float, dict[str, Any]], Path]


def execute_leg(runs: Path, leg: Leg, workload: WorkloadSpec, rate: float, extra: dict[str, Any]) -> Path:
    from profiler.runs import execute_run

    return execute_run(
        runs, endpoint=leg.base_url, served_model=leg.served_model, workload=workload,
        request_rate=rate, label=leg.label, model_key=extra.get("model"), engine=leg.engine,
        tokenizer=leg.tokenizer, extra_manifest=extra, metrics_url=leg.metrics_url,
    )


def run_profile(
    manifest: ProfileManifest,
    legs_: list[Leg],
    workload: WorkloadSpec,
    *,
    model_key: str,
    run_fn: RunFn = execute_leg,
    console: Console | None = None,
) -> ProfileManifest:
    """Every load point × ABBA repeat × leg; profile.json is kept true after each run.

    Ctrl-C: the run in progress saves itself (incomplete), profile.json is marked incomplete,
    and KeyboardInterrupt propagates so the caller stops the engine. Any other error is recorded
    the same way and re-raised.
    """
    console = console or Console(stderr=True)
    by_label = {leg.label: leg for leg in legs_}
    aa = is_aa(legs_)
    total = len(workload.request_rates) * workload.repeats * len(legs_)
    done = 0
    try:
        for p, rate in enumerate(workload.request_rates):
            for repeat, label in abba(workload.repeats):
                done += 1
                leg = by_label[label]
                console.print(
                    f"[bold]run {done}/{total}[/]: leg {label}, {point_name(rate)}, "
                    f"repeat {repeat + 1}/{workload.repeats} → {leg.base_url}",
                    soft_wrap=True,
                )
                extra = {
                    "model": model_key, "profile_id": manifest.data["profile_id"],
                    "load_point": point_name(rate), "repeat": repeat, "aa": aa,
                }
                t0 = time.monotonic()
                work = leg_workload(workload, rate, repeat)
                run_dir = run_fn(manifest.dir / "runs", leg, work, rate, extra)
                manifest.add_run(p, label, run_dir)
                console.print(f"  saved {run_dir.name} ({time.monotonic() - t0:.1f} s)", soft_wrap=True)
    except KeyboardInterrupt:
        manifest.finish(STATUS_INCOMPLETE, "interrupted (Ctrl-C); the runs listed were kept")
        raise
    except BaseException as exc:
        manifest.finish(STATUS_INCOMPLETE, f"{type(exc).__name__}: {exc}")
        raise
    return manifest


def compare_points(manifest: ProfileManifest, *, console: Console | None = None) -> list[Path]:
    """compare_runs per load point where both legs have runs; records each comparison's path."""
    console = console or Console(stderr=True)
    from profiler.analysis.compare import compare_runs  # numpy/scipy work loads only when needed

    written = []
    for point in manifest.data["load_points"]:
        on, off = point["runs"].get("on") or [], point["runs"].get("off") or []
        if not on or not off:
            continue
        out = manifest.dir / "compare" / point["name"]
        out.mkdir(parents=True, exist_ok=True)
        compare_runs(
            [manifest.dir / r for r in on], [manifest.dir / r for r in off], out,
            aa=bool(manifest.data["aa"]),
        )
        point["comparison"] = str(out.relative_to(manifest.dir))
        manifest.save()
        written.append(out)
    return written
