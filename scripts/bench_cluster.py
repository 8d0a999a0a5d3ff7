#!/usr/bin/env python
"""What does running the load workers on a Ray cluster cost? Figures, not a pass/fail test.

The script re-executes itself inside a network namespace of its own with only loopback up
(tests/support/netns.py, DESIGN §10): Ray picks the machine's interface and probes an outside
address, so it must never see the real network. Inside, it starts a real two-node Ray cluster
(head on 127.0.0.1, a second node on 127.0.0.2, each `ray start --block` in a PID namespace of its
own: tests/support/ray_cluster.py) and the ground-truth SSE server, then measures in one run:

accuracy  TTFT error against the server's own log, per request: client ttft_ms − (the server's
          first write − its receipt of the request; ``--server fast``, the default, stamps the
          receipt when its loop read the bytes, aiohttp when the handler started). The same
          closed-loop workload (--concurrency, --requests) from one local load process, from two
          local load processes (``--workers 2``: the same split of the schedule without Ray, the
          control for the split itself) and from two workers on the two Ray nodes (``--cluster
          ADDRESS --workers 2 --placement spread``). Both sides of the error are differences of
          one process's stamps (client: its worker's; server: its own), so no cross-host clock
          mapping enters it. The modes alternate (``--repeats``), so drift hits each. The claim
          checked: Ray adds nothing beyond noise, because it is not on the request path.
events    SSE events per second sustained against the fast ground-truth server (raw protocols,
          --events-ttft-ms/--events-itl-ms, many tokens, high concurrency): events = streamed
          events of the ok requests, duration = last end − first send in requests.parquet. One
          local process, one Ray worker, two local processes, two Ray workers on two nodes.
          Both Ray nodes, the server and the load processes share this one machine, so two
          workers cannot add cores here: the figure is the cost of distributing, not a scaling.
startup   The start-up cost of a distributed run: wall time of the CLI `run --cluster ADDRESS
          --workers 2` minus the CLI `run` on the same tiny workload, split into phases read from
          the run directory's own stamps (telemetry anchor, the driver's clock anchor, warm-up
          and measured stamps, manifest ``finished``); then the Ray part replayed step by step
          (import, connect, placement group, actor start, clock exchange, teardown) with the
          product's own functions in a fresh driver process.

accuracy and events run the product's run path (profiler.experiment.request.execute, what `run`
calls after its pre-flight checks) in a fresh interpreter per run, because the fast server has
no /v1/models for the CLI's pre-flight. Every request count is bounded; every server and Ray node
is stopped by the PID this script started. Machine load (os.getloadavg) is printed per run.

    .venv/bin/python scripts/bench_cluster.py
    .venv/bin/python scripts/bench_cluster.py --only accuracy --repeats 5 --requests 1024
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import netns  # noqa: E402
from tests.support.ray_cluster import Cluster, ray_cluster  # noqa: E402
from tests.support.servers import gt_log, gt_server  # noqa: E402

IN_NETNS = "TEE_LLM_PROF_IN_NETNS"
RUN_TIMEOUT_S = 300.0
SECTIONS = ("accuracy", "events", "startup")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Mode:
    name: str
    workers: int
    cluster: bool


LOCAL1 = Mode("local, 1 process", 1, False)
LOCAL2 = Mode("local, 2 processes", 2, False)
RAY1 = Mode("ray, 1 worker", 1, True)
RAY2 = Mode("ray, 2 workers spread", 2, True)


def load1() -> float:
    return os.getloadavg()[0]


def reset(url: str) -> None:
    """Empty the ground-truth server's log (request ids repeat from run to run)."""
    with _OPENER.open(urllib.request.Request(url + "/_gt/reset", data=b"", method="POST"), timeout=10):
        pass


# ---------------------------------------------------------------------- one run, in a child
def one_run(params: dict[str, Any]) -> None:
    """``--one-run JSON``: one run through the product's run path; prints its directory."""
    from profiler.cluster.options import ClusterOptions, parse_placement
    from profiler.config import WorkloadSpec
    from profiler.experiment.legs import Leg
    from profiler.experiment.request import ClientOptions, RunRequest, execute

    workload = WorkloadSpec(
        num_requests=params["requests"],
        concurrency=params["concurrency"],
        input_len=params["input_len"],
        output_len=params["output_len"],
        request_rates=[math.inf],
    )
    cluster = (
        ClusterOptions(params["cluster"], parse_placement(params["placement"])) if params["cluster"] else None
    )
    client = ClientOptions(workers=params["workers"], progress=False, cluster=cluster)
    leg = Leg("run", params["url"], "gt-model")
    path = execute(RunRequest(out=Path(params["out"]), leg=leg, workload=workload, client=client))
    print(path)


def launch(cl: Cluster, mode: Mode, url: str, out: Path, workload: dict[str, int]) -> Path:
    """One run of ``mode`` in a fresh interpreter; its run directory."""
    params = {"url": url, "out": str(out), "workers": mode.workers, "placement": "spread",
              "cluster": cl.address if mode.cluster else None, **workload}  # fmt: skip
    res = subprocess.run([sys.executable, __file__, "--one-run", json.dumps(params)], cwd=ROOT,
                         capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=cl.env())  # fmt: skip
    if res.returncode != 0:
        raise RuntimeError(f"{mode.name}: the run failed ({res.returncode}): {res.stderr.strip()[-2000:]}")
    return Path(res.stdout.strip().splitlines()[-1])


def requests_of(run: Path) -> pd.DataFrame:
    """requests.parquet of a run (a run that is not complete is named: its figures are suspect)."""
    manifest = json.loads((run / "manifest.json").read_text())
    if manifest["status"] != "complete":
        print(f"  warning: {run.name} is {manifest['status']}: {manifest.get('reason')}")
    return pd.read_parquet(run / "requests.parquet")


# ---------------------------------------------------------------------- a. accuracy
def ttft_errors(frame: pd.DataFrame, log: dict[str, Any]) -> np.ndarray:
    by_id = {r["request_id"]: r for r in log["requests"]}
    out = []
    for rid, ttft in zip(
        frame.loc[frame["ok"], "request_id"], frame.loc[frame["ok"], "ttft_ms"], strict=True
    ):
        srv = by_id[rid]
        out.append(float(ttft) - (srv["write_ns"][0] - srv["recv_ns"]) / 1e6)
    return np.asarray(out)


def accuracy(cl: Cluster, args: argparse.Namespace, tmp: Path) -> None:
    modes = [LOCAL1, LOCAL2, RAY2]
    print(
        f"\na. TTFT error vs the server's log (ms): c={args.concurrency}, {args.requests} requests, "
        f"{args.output_len} tokens, {args.server} server TTFT {args.ttft_ms:g} ms / ITL {args.itl_ms:g} ms"
    )
    print(f"  {'mode':24} {'run':>3} {'n':>5} {'median':>8} {'p99':>8} {'ok':>5} {'load1':>6}")
    errs: dict[str, list[np.ndarray]] = {m.name: [] for m in modes}
    wl = {"concurrency": args.concurrency, "requests": args.requests, "input_len": 32,
          "output_len": args.output_len}  # fmt: skip
    fast = ("--fast",) if args.server == "fast" else ()
    with gt_server(*fast, "--ttft-ms", str(args.ttft_ms), "--itl-ms", str(args.itl_ms)) as url:
        for rep in range(args.repeats):
            for mode in modes if rep % 2 == 0 else modes[::-1]:  # alternate: drift hits every mode
                reset(url)
                lo = load1()
                frame = requests_of(launch(cl, mode, url, tmp / "a", wl))
                e = ttft_errors(frame, gt_log(url))
                errs[mode.name].append(e)
                print(
                    f"  {mode.name:24} {rep + 1:>3} {len(e):>5} {np.median(e):8.3f} "
                    f"{np.percentile(e, 99):8.3f} {int(frame['ok'].sum()):>5} {lo:6.2f}",
                    flush=True,
                )
    print(f"  pooled over {args.repeats} runs each: median, p99; per-run medians min..max")
    pooled = {k: np.concatenate(v) for k, v in errs.items()}
    for m in modes:
        meds = [float(np.median(e)) for e in errs[m.name]]
        print(
            f"  {m.name:24} median {np.median(pooled[m.name]):7.3f}  "
            f"p99 {np.percentile(pooled[m.name], 99):7.3f}"
            f"  per-run medians {min(meds):.3f}..{max(meds):.3f}"
        )
    for base in (LOCAL1, LOCAL2):
        d_med = np.median(pooled[RAY2.name]) - np.median(pooled[base.name])
        d_p99 = np.percentile(pooled[RAY2.name], 99) - np.percentile(pooled[base.name], 99)
        paired = [
            float(np.median(a) - np.median(b)) for a, b in zip(errs[RAY2.name], errs[base.name], strict=True)
        ]
        print(
            f"  {RAY2.name} − {base.name}: median {d_med:+.3f} ms, p99 {d_p99:+.3f} ms; "
            f"per-run median differences {min(paired):+.3f}..{max(paired):+.3f} ms"
        )
    noise = [max(float(np.median(e)) for e in v) - min(float(np.median(e)) for e in v) for v in errs.values()]
    print(f"  noise: per-run medians of one mode span up to {max(noise):.3f} ms on this machine")


# ---------------------------------------------------------------------- b. events/s
def busy_pct(run: Path, start_ns: int, end_ns: int) -> float:
    """The machine's CPU busy % in the measured window (host telemetry, 0.5 s ticks)."""
    host = pd.read_parquet(run / "host.parquet")
    inside = host[(host["t_ns"] > start_ns) & (host["t_ns"] <= end_ns + 500_000_000)]["cpu_busy_pct"]
    return float(inside.mean()) if len(inside) else math.nan


def events(cl: Cluster, args: argparse.Namespace, tmp: Path) -> None:
    modes = [LOCAL1, RAY1, LOCAL2, RAY2]
    print(
        f"\nb. SSE events/s: c={args.events_concurrency}, {args.events_requests} requests × "
        f"{args.events_tokens} tokens, fast server TTFT {args.events_ttft_ms:g} ms / "
        f"ITL {args.events_itl_ms:g} ms"
    )
    print(
        f"  both Ray nodes, the server and every load process share this one machine "
        f"({os.cpu_count()} cores): two workers on two 'nodes' cannot add cores here"
    )
    print(
        f"  {'mode':24} {'run':>3} {'events':>8} {'dur_s':>6} {'events/s':>9} "
        f"{'host_busy%':>10} {'srv_lag_p99':>11} {'nodes':>19} {'load1':>6}"
    )
    rates: dict[str, list[float]] = {m.name: [] for m in modes}
    wl = {"concurrency": args.events_concurrency, "requests": args.events_requests, "input_len": 16,
          "output_len": args.events_tokens}  # fmt: skip
    server = ("--fast", "--ttft-ms", str(args.events_ttft_ms), "--itl-ms", str(args.events_itl_ms))
    with gt_server(*server) as url:
        for rep in range(args.events_repeats):
            for mode in modes if rep % 2 == 0 else modes[::-1]:
                reset(url)
                lo = load1()
                run = launch(cl, mode, url, tmp / "b", wl)
                frame = requests_of(run)
                ok = frame[frame["ok"]]
                start, end = int(ok["sent_ns"].min()), int(ok["end_ns"].max())
                n = int(ok["n_events"].sum())
                rate = n / ((end - start) / 1e9)
                rates[mode.name].append(rate)
                lag = np.asarray(gt_log(url)["loop_lag_ns"], dtype=float) / 1e6
                nodes = ",".join(sorted({str(x) for x in frame["node"]})) if "node" in frame else "this host"
                print(
                    f"  {mode.name:24} {rep + 1:>3} {n:>8} {(end - start) / 1e9:6.2f} {rate:9.0f} "
                    f"{busy_pct(run, start, end):10.0f} "
                    f"{np.percentile(lag, 99) if lag.size else math.nan:9.2f}ms {nodes:>19} {lo:6.2f}",
                    flush=True,
                )
    base = float(np.median(rates[LOCAL1.name]))
    print("  median events/s (ratio to one local process):")
    for m in modes:
        r = float(np.median(rates[m.name]))
        print(f"  {m.name:24} {r:9.0f}  {r / base:5.2f}x")
    print("  (host_busy%: both cores in the measured window, from the run's host telemetry; srv_lag_p99:")
    print("   the server's own event-loop lag: large = the server, not the client, was the limit)")


# ---------------------------------------------------------------------- c. start-up
def _wall_of(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1e9)


def phases(run: Path, launched_wall: int, exited_wall: int) -> dict[str, float]:
    """Where the wall time of one CLI run went, in ms, from the run directory's own stamps."""
    man = json.loads((run / "manifest.json").read_text())
    tel = man["telemetry"]["anchor"]
    perf_minus_wall = tel["perf_ns"] - tel["wall_ns"]  # the driver's monotonic ↔ wall clock

    def mono(wall: int) -> int:
        return wall + perf_minus_wall

    req = pd.read_parquet(run / "requests.parquet")
    warm = pd.read_parquet(run / "warmup.parquet")
    first = int(warm["sent_ns"].min()) if len(warm) else int(req["sent_ns"].min())
    end = int(req["end_ns"].max())
    finished = mono(_wall_of(man["finished"]))
    out = {
        "cli start → runner": (tel["wall_ns"] - launched_wall) / 1e6,
        "runner → first request": (first - tel["perf_ns"]) / 1e6,
        "warm-up + start margin": (man["t0_ns"] - first) / 1e6,
        "measured": (end - man["t0_ns"]) / 1e6,
        "merge + save": (finished - end) / 1e6,
        "report + exit": (exited_wall - _wall_of(man["finished"])) / 1e6,
        "total": (exited_wall - launched_wall) / 1e6,
    }
    if man.get("cluster"):  # the driver's anchor lies after the clock exchange, before the load processes
        out["of which Ray set-up"] = (man["wall_anchor"]["perf_ns"] - tel["perf_ns"]) / 1e6
    return out


def cli_run(cl: Cluster, url: str, out: Path, cluster: bool) -> dict[str, float]:
    cmd = [sys.executable, "-m", "profiler.cli", "run", "--endpoint", url, "--served-model", "gt-model",
           "--input-len", "8", "--output-len", "4", "--num-requests", "8", "--concurrency", "2",
           "--no-progress", "--out", str(out)]  # fmt: skip
    if cluster:
        cmd += ["--cluster", cl.address, "--workers", "2", "--placement", "spread"]
    before = {p.name for p in out.iterdir()} if out.exists() else set()
    launched = time.time_ns()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=cl.env())
    exited = time.time_ns()
    if res.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd[3:])}` failed ({res.returncode}): {res.stderr.strip()[-2000:]}")
    (run,) = [p for p in out.iterdir() if p.name not in before and (p / "manifest.json").exists()]
    return phases(run, launched, exited)


def replay_setup(address: str, workers: int) -> None:
    """``--replay-setup ADDRESS``: the Ray steps of run_on_cluster, timed one by one (prints JSON)."""
    from profiler.cluster import clock
    from profiler.cluster.connect import alive_nodes, connect
    from profiler.cluster.options import parse_placement
    from profiler.cluster.placement import plan
    from profiler.cluster.worker import remote_class

    t: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        t[name] = (now - mark) * 1e3
        mark = now

    import ray

    lap("import ray")
    connect(address)
    lap("connect (ray.init)")
    placed = plan(ray, parse_placement("spread"), alive_nodes(ray), workers)
    lap("placement group ready")
    actors = [remote_class(ray).options(**o).remote() for o in placed.options]
    ray.get([a.identity.remote() for a in actors])
    lap("actors up (identity answered)")

    def asker(actor: Any) -> Callable[[], int]:
        return lambda: int(ray.get(actor.wall_ns.remote()))

    bounds = [clock.exchange(asker(a)).bound_ns for a in actors]
    lap(f"clock exchange ({clock.SAMPLES} round trips × {workers})")
    for a in actors:
        ray.kill(a)
    placed.release(ray)
    lap("kill actors + release group")
    ray.shutdown()
    lap("ray.shutdown")
    print(json.dumps({"steps": t, "bounds_us": [b / 1e3 for b in bounds]}))


def startup(cl: Cluster, args: argparse.Namespace, tmp: Path) -> None:
    print("\nc. start-up of a distributed run: the CLI `run`, 8 requests, c=2, 4 tokens (aiohttp server)")
    walls: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with gt_server("--ttft-ms", "5", "--itl-ms", "1") as url:
        for rep in range(args.startup_repeats):
            for cluster in (False, True) if rep % 2 == 0 else (True, False):
                lo = load1()
                ph = cli_run(cl, url, tmp / "c", cluster)
                walls[cluster].append(ph)
                print(
                    f"  {'run --cluster --workers 2' if cluster else 'run':26} {rep + 1:>2}: "
                    f"{ph['total']:7.0f} ms  load1 {lo:.2f}",
                    flush=True,
                )
    names = list(walls[True][0])
    print(
        f"  phase (ms, median of {args.startup_repeats}) {'run':>10} {'run --cluster':>14} {'difference':>11}"
    )
    for name in names:
        b = float(np.median([p[name] for p in walls[True]]))
        if name not in walls[False][0]:  # the Ray set-up: a cluster run's only
            print(f"  {name:32} {'-':>10} {b:14.0f}")
            continue
        a = float(np.median([p[name] for p in walls[False]]))
        print(f"  {name:32} {a:10.0f} {b:14.0f} {b - a:+11.0f}")
    print("  (phases from the run directory: telemetry anchor, driver clock anchor (after Ray set-up),")
    print("   first warm-up send, t0, last measured end, manifest `finished`; the cluster's start margin")
    print("   is 250 ms)")
    res = subprocess.run([sys.executable, __file__, "--replay-setup", cl.address], cwd=ROOT,
                         capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=cl.env())  # fmt: skip
    if res.returncode != 0:
        print(f"  the set-up replay failed: {res.stderr.strip()[-1000:]}")
        return
    rep_out = json.loads(res.stdout.strip().splitlines()[-1])
    print("  the Ray set-up replayed step by step in a fresh driver (run_on_cluster's calls), 2 workers:")
    for name, ms in rep_out["steps"].items():
        print(f"    {name:44} {ms:7.0f} ms")
    bounds = ", ".join(f"{b:.0f} µs" for b in rep_out["bounds_us"])
    print(f"    clock-offset bounds (RTT/2) of the two workers: {bounds}")


# ---------------------------------------------------------------------- main
def reexec_in_netns(argv: Sequence[str]) -> None:
    """Become PID 1 of a loopback-only network namespace (unless already inside one)."""
    why = netns.unavailable()
    if why:
        sys.exit(f"bench_cluster: {why}")
    env = {**os.environ, IN_NETNS: "1"}
    cmd = [*netns.prefix(), sys.executable, str(Path(__file__).resolve()), *argv]
    os.execvpe(cmd[0], cmd, env)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run (default all)"
    )
    p.add_argument("--concurrency", type=int, default=64, help="accuracy: requests in flight (default 64)")
    p.add_argument(
        "--requests", type=int, default=256, help="accuracy: measured requests per run (default 256)"
    )
    p.add_argument("--output-len", type=int, default=16, help="accuracy: tokens per request (default 16)")
    p.add_argument("--ttft-ms", type=float, default=50.0, help="accuracy: the server's TTFT (default 50)")
    p.add_argument("--itl-ms", type=float, default=10.0, help="accuracy: the server's ITL (default 10)")
    p.add_argument(
        "--server",
        choices=("fast", "aiohttp"),
        default="fast",
        help="accuracy: the ground-truth server: fast (raw protocols, stamps receipt in data_received; "
        "default) or aiohttp (stamps receipt when the handler starts, after aiohttp parsed the request)",
    )
    p.add_argument("--repeats", type=int, default=3, help="accuracy: runs per mode, alternating (default 3)")
    p.add_argument(
        "--events-concurrency", type=int, default=512, help="events: requests in flight (default 512)"
    )
    p.add_argument(
        "--events-requests", type=int, default=1024, help="events: measured requests (default 1024)"
    )
    p.add_argument("--events-tokens", type=int, default=256, help="events: tokens per request (default 256)")
    p.add_argument("--events-ttft-ms", type=float, default=1.0, help="events: the server's TTFT (default 1)")
    p.add_argument("--events-itl-ms", type=float, default=1.0, help="events: the server's ITL (default 1)")
    p.add_argument("--events-repeats", type=int, default=2, help="events: runs per mode (default 2)")
    p.add_argument("--startup-repeats", type=int, default=3, help="startup: CLI runs per mode (default 3)")
    p.add_argument("--one-run", help=argparse.SUPPRESS)
    p.add_argument("--replay-setup", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in (
        "concurrency",
        "requests",
        "output_len",
        "repeats",
        "events_concurrency",
        "events_requests",
        "events_tokens",
        "events_repeats",
        "startup_repeats",
    ):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.one_run:
        one_run(json.loads(args.one_run))
        return 0
    if args.replay_setup:
        replay_setup(args.replay_setup, 2)
        return 0
    if importlib.util.find_spec("ray") is None:
        sys.exit("bench_cluster: needs the ray extra (pip install 'tee-llm-prof[ray]')")
    if os.environ.get(IN_NETNS) != "1":
        reexec_in_netns(argv)
    began = time.monotonic()
    print(
        f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores "
        "(in a loopback-only network namespace)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as td:
        tmp = Path(td)
        t = time.monotonic()
        with ray_cluster(tmp / "ray", n_nodes=2) as cl:
            took = time.monotonic() - t
            print(
                f"two-node Ray cluster up at {cl.address} (127.0.0.1 + 127.0.0.2) in {took:.1f} s", flush=True
            )
            try:
                for name, section in (("accuracy", accuracy), ("events", events), ("startup", startup)):
                    if name in args.only:
                        section(cl, args, tmp)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"bench_cluster: {exc}", file=sys.stderr)
                return 1
    print(
        f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"took {time.monotonic() - began:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
