#!/usr/bin/env python3
"""GPU-side checks for scripts/device_check.sh; each sub-command prints one JSON document.

Runs with a plain ``python3`` that has torch + nvidia-ml-py + pandas (the package need not be
installed: the script puts the repository on sys.path) and imports only what it needs, so a
missing optional dependency of another module cannot stop it.

    python3 scripts/device_check.py env
    python3 scripts/device_check.py validate --expect on
    python3 scripts/device_check.py sampler --seconds 20     # NVML sampler under a matmul load
    python3 scripts/device_check.py suite-gpu --budget-s 150 # the gpu suite, folded into one JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def cmd_env(args: argparse.Namespace) -> dict[str, Any]:
    from profiler.env import fingerprint

    return fingerprint()


def cmd_validate(args: argparse.Namespace) -> dict[str, Any]:
    from profiler.validate import validate

    return validate(args.expect, probe=True)


def _matmul_load(seconds: float) -> dict[str, Any]:
    """bf16 8192² matmuls for ``seconds``; returns TFLOP/s so the load is known to be real."""
    import torch

    if not torch.cuda.is_available():
        time.sleep(seconds)
        return {"reason": "torch sees no CUDA device: slept instead"}
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    torch.cuda.synchronize()
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(20):
            a @ b
        torch.cuda.synchronize()
        done += 20
    wall = time.perf_counter() - t0
    return {"matmuls": done, "tflops": 2 * n**3 * done / wall / 1e12, "wall_s": wall}


def cmd_sampler(args: argparse.Namespace) -> dict[str, Any]:
    """Idle → load → idle under a TelemetrySession; busy fraction and energy per phase."""
    from profiler.telemetry import TelemetrySession
    from profiler.telemetry.breakdown import gpu_section

    phases: dict[str, tuple[int, int]] = {}
    load: dict[str, Any] = {}
    with TelemetrySession(interval_s=args.interval, host=True) as tele:
        t = time.perf_counter_ns()
        time.sleep(args.idle)
        phases["idle_before"] = (t, time.perf_counter_ns())
        t = time.perf_counter_ns()
        load = _matmul_load(args.seconds)
        phases["load"] = (t, time.perf_counter_ns())
        t = time.perf_counter_ns()
        time.sleep(args.idle)
        phases["idle_after"] = (t, time.perf_counter_ns())
    tables = tele.tables()
    summary = tele.summary()
    out: dict[str, Any] = {"load": load, "session": summary, "phases": {}}
    for name, (a, b) in phases.items():
        out["phases"][name] = gpu_section(tables.get("telemetry"), tables.get("gpu_util_samples"),
                                          a, b, output_tokens=0,
                                          field_reasons=summary["nvml"].get("fields"))
    if "telemetry" in tables:
        frame = tables["telemetry"]
        out["rows"] = len(frame)
        out["first_rows"] = json.loads(frame.head(3).to_json(orient="records"))
    return out


def cmd_suite_gpu(args: argparse.Namespace) -> dict[str, Any]:
    """Run the gpu suite into a scratch directory and return the run as one capture document.

    The copy sweep gets what is left of ``--budget-s`` after a fixed allowance for the other
    steps, so the step ends inside the device check's timeout. A run that stops early is still
    returned, with its status and reason.
    """
    import signal

    def on_term(signum: int, frame: Any) -> None:  # `timeout` ends the step: keep what was measured
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        return _suite_gpu(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _suite_gpu(args: argparse.Namespace) -> dict[str, Any]:
    import socket
    import tempfile

    from profiler.errors import UserError
    from profiler.gpu.capture import export_run
    from profiler.store import list_runs
    from profiler.suites import SUITES, SuiteSkipped, load_all, run_suite

    load_all()
    suite = SUITES.get("gpu")
    # the gpu suite's own options only: building every command's parser would import them all
    parser = argparse.ArgumentParser(prog="suite gpu")
    parser.add_argument("--label", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=1)
    suite.add_arguments(parser)
    with tempfile.TemporaryDirectory(prefix="suite-gpu-") as tmp:
        copy_budget = max(10.0, args.budget_s - 60.0)  # torch/CUDA start, launches, graphs, matmul
        argv = ["--label", args.label, "--out", tmp, "--copy-budget-s", f"{copy_budget:g}",
                *args.suite_args]
        sargs = parser.parse_args(argv)
        error = None
        try:
            run_suite(suite, sargs, quiet=True)
        except SuiteSkipped as exc:
            return {"skipped": str(exc)}
        except KeyboardInterrupt:
            error = "stopped by the step's time limit (SIGTERM): partial results"
        except UserError as exc:
            if isinstance(exc.__cause__, SuiteSkipped):
                return {"skipped": str(exc.__cause__)}
            error = str(exc)
        runs = list_runs(Path(tmp))
        if not runs:
            return {"error": error or "the suite wrote no run directory"}
        data = export_run(runs[0], f"captured on {socket.gethostname()} by scripts/device_check.sh")
    data["argv"] = argv
    data["error"] = error
    try:
        from dataclasses import asdict

        from profiler.analysis.gpu_explain import tolls_from_results

        data["tolls_on_this_host"] = asdict(tolls_from_results(data["results"]))
    except ValueError as exc:  # a step did not run: no tolls, say which
        data["tolls_on_this_host"] = {"reason": str(exc)}
    return data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("env")
    v = sub.add_parser("validate")
    v.add_argument("--expect", choices=("on", "off"), default="on")
    s = sub.add_parser("sampler")
    s.add_argument("--seconds", type=float, default=20.0, help="matmul load duration")
    s.add_argument("--idle", type=float, default=3.0, help="idle phase before and after")
    s.add_argument("--interval", type=float, default=0.1)
    g = sub.add_parser("suite-gpu")
    g.add_argument("--budget-s", type=float, default=150.0, help="the whole step's time budget")
    g.add_argument("--label", default="device")
    g.add_argument("suite_args", nargs=argparse.REMAINDER, help="more gpu-suite options, after --")
    args = ap.parse_args()
    if args.cmd == "suite-gpu" and args.suite_args[:1] == ["--"]:
        args.suite_args = args.suite_args[1:]
    handlers = {"env": cmd_env, "validate": cmd_validate, "sampler": cmd_sampler,
                "suite-gpu": cmd_suite_gpu}
    result = handlers[args.cmd](args)
    print(json.dumps(result, indent=1, default=str))
    return int(result.get("exit_code", 0)) if args.cmd == "validate" else 0


if __name__ == "__main__":
    sys.exit(main())
