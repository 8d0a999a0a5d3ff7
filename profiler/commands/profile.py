"""`tee-llm-prof profile --model KEY` (also `tee-llm-prof --model KEY`): the main job."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.table import Table

from profiler.commands import COMMANDS, Command
from profiler.config import WorkloadSpec, get_model, parse_strict
from profiler.errors import UserError
from profiler.orchestrator import (
    AA_NOTE,
    ProfileManifest,
    compare_points,
    is_aa,
    legs,
    run_profile,
)
from profiler.store import STATUS_COMPLETE, STATUS_INCOMPLETE, new_run_id, read_run

DESCRIPTION = """\
Profile one model: run the same seeded workload on the TEE-on and the TEE-off endpoint at
every load point (request rates from models.yaml or --request-rates), repeats interleaved
on, off, off, on …, one run directory per leg × load point × repeat, a profile.json tying
them together, a per-leg summary, then overheads with 95% CIs and the reports.

Where the legs come from, first match wins:
  1. --tee-on URL --tee-off URL
  2. endpoints: {tee_on, tee_off} of the model in models.yaml
  3. the model's engine, launched here and always stopped afterwards: vllm-cpu (the embedded
     default, a tiny model generated on this machine) or vllm-cuda (dummy weights on a GPU).
With one endpoint (case 3, or a single URL) both legs are the same server: an A/A
calibration that measures the noise floor, and the output says so.

Ctrl-C stops the engine and keeps every run measured so far, marked incomplete.

examples:
  tee-llm-prof --model tiny-llama                         # embedded default (vLLM CPU)
  tee-llm-prof --model tiny-llama --num-requests 32 --repeats 1 --out /tmp/prof
  tee-llm-prof --model llama-3.1-70b                      # endpoints from models.yaml
  tee-llm-prof profile --model llama-3.1-8b --tee-on http://10.0.0.5:8000 \\
      --tee-off http://10.0.0.6:8000 --request-rates 1,4,16,inf --repeats 3
"""

#: CLI flag → WorkloadSpec field (the service passes the same flags).
OVERRIDES: dict[str, str] = {
    "num_requests": "--num-requests",
    "concurrency": "--concurrency",
    "request_rates": "--request-rates",
    "input_len": "--input-len",
    "output_len": "--output-len",
    "repeats": "--repeats",
    "seed": "--seed",
    "dataset": "--dataset",
    "api": "--api",
}


def _rates(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model key in models.yaml (see: tee-llm-prof models)")
    p.add_argument("--models", default=None, metavar="PATH",
                   help="models.yaml to use (default: ./models.yaml, $TEE_LLM_PROF_MODELS, the bundled one)")
    p.add_argument("--tee-on", default=None, metavar="URL", help="base URL of the TEE-on endpoint")
    p.add_argument("--tee-off", default=None, metavar="URL", help="base URL of the TEE-off endpoint")
    p.add_argument("--out", type=Path, default=Path("results"), help="where profiles go (default results/)")
    p.add_argument("--profile-id", default=None, metavar="ID",
                   help="profile directory name (default: <time>-profile-<model>-<random>)")
    p.add_argument("--port", type=int, default=None, help="port for a launched engine (default: a free one)")
    g = p.add_argument_group("workload overrides (defaults: the model's workload in models.yaml)")
    g.add_argument("--num-requests", type=int, help="measured requests per run")
    g.add_argument("--concurrency", type=int, help="max requests in flight")
    g.add_argument("--request-rates", type=_rates, metavar="R[,R…]",
                   help="load points in req/s, e.g. 1,4,16,inf")
    g.add_argument("--input-len", type=int, help="prompt tokens")
    g.add_argument("--output-len", type=int, help="generated tokens (ignore_eos makes this exact)")
    g.add_argument("--repeats", type=int, help="runs per leg and load point (interleaved on/off/off/on)")
    g.add_argument("--seed", type=int, help="workload seed (repeat i uses seed + i)")
    g.add_argument("--dataset", help="random | sharegpt:PATH | prefix")
    g.add_argument("--api", choices=("completions", "chat"))
    p.add_argument("--no-report", action="store_true", help="skip the reports (md/html/png)")


def resolve_workload(base: WorkloadSpec, args: argparse.Namespace) -> WorkloadSpec:
    """The model's workload with the CLI overrides applied, validated strictly."""
    data = base.model_dump()
    for field in OVERRIDES:
        value = getattr(args, field, None)
        if value is not None:
            data[field] = value
    workload: WorkloadSpec = parse_strict(WorkloadSpec, data, "command line")
    return workload


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a service cancelling us, a CI timeout) takes the Ctrl-C path: save, stop, exit."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fmt(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{float(value):.{digits}f}"


def summary_table(manifest: ProfileManifest) -> Table:
    """One row per run: what each leg measured (DESIGN §3 metrics; latencies in ms)."""
    table = Table(title=f"Per-leg summary: {manifest.data['model']} (latencies in ms)", title_justify="left")
    for col in ("point", "leg", "rep", "ok/fail", "TTFT", "TPOT", "ITL", "p99 ITL", "E2EL", "tok/s", "req/s"):
        table.add_column(col, justify="left" if col in ("point", "leg") else "right", no_wrap=True)
    incomplete = False
    for point in manifest.data["load_points"]:
        for label in ("on", "off"):
            for rel in point["runs"].get(label, []):
                run = read_run(manifest.dir / rel)
                s = run.summary
                mark = "" if run.complete else "*"
                incomplete |= not run.complete
                table.add_row(
                    point["name"], label, f"{int(run.manifest.get('repeat', 0)) + 1}{mark}",
                    f"{s.get('completed', 0)}/{s.get('failed', 0)}",
                    _fmt(s.get("mean_ttft_ms")), _fmt(s.get("mean_tpot_ms"), 2),
                    _fmt(s.get("mean_itl_ms"), 2), _fmt(s.get("p99_itl_ms"), 2),
                    _fmt(s.get("mean_e2el_ms")), _fmt(s.get("output_throughput")),
                    _fmt(s.get("request_throughput"), 2),
                )
    if incomplete:
        table.caption = "* incomplete run (stopped early; see its manifest.json reason)"
    return table


def _report(profile_dir: Path, console: Console) -> None:
    from profiler.report import render  # matplotlib loads only when a report is drawn

    files = render(profile_dir, console=console)
    if files:
        console.print(f"reports: {', '.join(str(f) for f in files if f.suffix in ('.md', '.html'))}")


def run(args: argparse.Namespace) -> int:
    entry = get_model(args.model, args.models)
    workload = resolve_workload(entry.workload, args)
    out_console = Console()
    console = Console(stderr=True)
    profile_id = args.profile_id or new_run_id("profile", args.model)
    profile_dir = Path(args.out) / profile_id
    if (profile_dir / "profile.json").exists():
        raise UserError(f"{profile_dir} already holds a profile; choose another --profile-id or --out")
    with sigterm_as_interrupt():
        manifest: ProfileManifest | None = None
        try:
            with legs(entry, args.tee_on, args.tee_off, key=args.model, port=args.port,
                      log_dir=profile_dir / "engine", console=console) as leg_list:
                aa = is_aa(leg_list)
                if aa:
                    console.print(f"[yellow]{AA_NOTE}[/]")
                manifest = ProfileManifest.create(
                    Path(args.out), profile_id, model=args.model, aa=aa, legs_=leg_list, workload=workload
                )
                run_profile(manifest, leg_list, workload, model_key=args.model, console=console)
        except KeyboardInterrupt:
            if manifest is not None:
                out_console.print(summary_table(manifest))
                print_paths(manifest)
                console.print(f"interrupted: runs so far kept in {manifest.dir} (incomplete)")
            raise
    # The engine is stopped: analysis and reports never compete with a server for the CPU.
    assert manifest is not None
    out_console.print(summary_table(manifest))
    try:
        compare_points(manifest, console=console)
    except BaseException as exc:  # the runs stay; the profile says why it has no comparison
        manifest.finish(STATUS_INCOMPLETE, f"comparison failed: {type(exc).__name__}: {exc}")
        raise
    manifest.finish(STATUS_COMPLETE)
    if aa:
        out_console.print(AA_NOTE)
    code = 0
    if not args.no_report:
        try:
            _report(manifest.dir, out_console)
        except Exception as exc:  # the measurements are complete; only a view of them failed
            console.print(f"error: the report failed ({type(exc).__name__}: {exc}); "
                          f"retry with: tee-llm-prof report {manifest.dir}")
            code = 1
    print_paths(manifest)
    return code


def print_paths(manifest: ProfileManifest) -> None:
    """Plain lines (no wrapping): where every result is, for people and scripts."""
    print(f"profile: {manifest.dir}")
    for point in manifest.data["load_points"]:
        for label in ("on", "off"):
            for rel in point["runs"][label]:
                print(f"  run {label:3} {point['name']}: {manifest.dir / rel}")
        if point.get("comparison"):
            print(f"  comparison {point['name']}: {manifest.dir / point['comparison']}")
    sys.stdout.flush()


COMMANDS.add(
    "profile",
    Command(
        name="profile",
        help="the main job: both legs × load points × repeats → runs, overheads with CIs, reports",
        add_arguments=add_arguments,
        run=run,
        description=DESCRIPTION,
    )
)
