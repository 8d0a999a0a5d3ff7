#!/usr/bin/env python
"""How accurate, how punctual and how fast is our load generator? Figures, not a pass/fail test.

The server runs pinned to core 0, the client under test in its own process pinned to core 1,
warm-up = concurrency. Three measurements (``--only`` picks some):

accuracy  The ground-truth SSE server (tests/support/gt_server.py: aiohttp on uvloop, or
          ``--server fast``: raw protocols, tests/support/gt_fast.py) logs on CLOCK_MONOTONIC
          when its loop read each request, when the handler started and when it wrote each
          event. Closed loop at each ``--concurrency``, our client and ``vllm bench serve``
          (its detailed results carry absolute perf_counter start times), over the same
          requests: stamp error (client first-token stamp − server send time of that token),
          send gap (server receipt − client send stamp; ``to_server_loop_ms`` is the part until
          the server's loop read the bytes), TTFT error (client TTFT − true TTFT), ITL p99 error.
pacing    Open loop: Poisson at each ``--pacing RATE[:WORKERS]`` (8 output tokens, the fast
          server, a concurrency cap that never binds): how late each request left against its
          *target* time (p50/p99/max), how late its bytes reached the server's loop, the
          achieved rate. Ours only (vLLM's results do not carry its intended send times).
events    SSE events per second against a firehose server (one event per write, streams
          interleaved): achieved, and per client CPU-second in the measured window.

Each point runs ``--repeats`` times, client kinds alternating so drift hits both; the summary
gives min/median/max over repeats and the load average next to every run, because on a shared
machine every figure carries other people's work; ``others_on_client_core`` is the share of the
client core that other processes used during the run (from /proc/stat), the interference that
matters most. ``--wait-quiet L`` waits (bounded) for the 1-minute load average to drop below L,
first and before each point. ``--loadgen-root DIR`` measures the loadgen package
found under DIR instead of this tree's (before/after comparisons). ``--client-sched fifo`` runs
the clients under SCHED_FIFO: on a shared machine other processes land on the client core while
the client sleeps, and the scheduler lets them finish a slice (up to ~4 ms) before the client
runs again; FIFO takes that noise out, leaving the client's own precision.

    .venv/bin/python scripts/bench_loadgen.py --repeats 3 --wait-quiet 0.7 --json bench.json
    .venv/bin/python scripts/bench_loadgen.py --only pacing --no-vllm --repeats 1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_loadgen_lib
from bench_loadgen_lib import (
    SERVER_CPU,
    accuracy,
    client_main,
    event_figures,
    firehose,
    pacing,
    run_ours,
    run_vllm,
    tokenizer_dir,
    vllm_available,
)

from tests.support.servers import gt_log, gt_server

TTFT_MS, ITL_MS = 50.0, 10.0
OUTPUT_LEN = 32
PACING_TOKENS = 8
FIGURES = ("stamp_err_ms", "send_gap_ms", "ttft_err_ms", "itl_p99_err_ms")
SHOWN = (*FIGURES, "server_loop_lag_p99_ms", "others_on_client_core")
PACING_FIGURES = ("pacing_lag_p50_ms", "pacing_lag_p99_ms", "pacing_lag_max_ms", "server_arrival_lag_p99_ms",
                  "achieved_rate", "client_cpu_util", "others_on_client_core")
EVENT_FIGURES = ("events_per_s", "events_per_cpu_s", "others_on_client_core")


def wait_quiet(limit: float, tries: int, every_s: float) -> float:
    """Wait (bounded) until the 1-minute load average is below ``limit``; return the last one."""
    load = os.getloadavg()[0]
    for k in range(tries):
        if load < limit:
            break
        print(f"load average {load:.2f} >= {limit}: waiting {every_s:.0f} s ({k + 1}/{tries})", flush=True)
        time.sleep(every_s)
        load = os.getloadavg()[0]
    return load


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _line(tag: str, fig: dict[str, Any]) -> str:
    return f"[{tag}] " + "  ".join(f"{k}={_fmt(v)}" for k, v in fig.items())


def _spread(values: list[float]) -> str:
    v = [x for x in values if x == x]
    if not v:
        return "n/a"
    return f"{min(v):.3f}/{float(np.median(v)):.3f}/{max(v):.3f}"


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.res: dict[str, Any] = {"accuracy": {}, "pacing": {}, "event_rate": {},
                                    "load_average_before": os.getloadavg(), "args": vars(args)}
        self.kinds = ["ours"]
        if not args.no_vllm:
            if vllm_available():
                self.kinds.append("vllm")
            else:
                print("vllm is not installed: measuring our client only")
        self.tok = tokenizer_dir(tmp) if "vllm" in self.kinds else None

    def quiet(self) -> float:
        """Before each measured point: wait (bounded) for the load to drop; return it."""
        if self.args.wait_quiet is None:
            return os.getloadavg()[0]
        return wait_quiet(self.args.wait_quiet, self.args.point_tries, 30.0)

    def client(self, kind: str, url: str, c: int, n: int, out_len: int, **kw: Any) -> dict[str, Any]:
        if kind == "ours":
            return run_ours(url, c, n, out_len, self.tmp, loadgen_root=self.args.loadgen_root,
                            pacer=self.args.pacer, **kw)
        assert self.tok is not None
        return run_vllm(url, c, n, out_len, self.tmp, self.tok)

    def _server(self, *extra: str) -> Any:
        fast = ("--fast",) if self.args.server == "fast" else ("--uvloop",)
        return gt_server(*fast, *extra, cpu=SERVER_CPU)

    def accuracy(self, rep: int, order: list[str]) -> None:
        for c in self.args.concurrency:
            for kind in order:
                load = self.quiet()
                with self._server("--ttft-ms", str(TTFT_MS), "--itl-ms", str(self.args.itl_ms)) as url:
                    client = self.client(kind, url, c, c * self.args.requests_per_slot, self.args.output_len)
                    log = gt_log(url)
                fig = accuracy(client, log)
                fig["load_average_1m"] = load
                self.res["accuracy"].setdefault(f"{kind}@{c}", []).append(fig)
                print(_line(f"c={c} {kind} rep {rep}", fig), flush=True)

    def pacing(self, rep: int) -> None:
        for point in self.args.pacing:
            rate_s, _, workers_s = point.partition(":")
            rate, workers = float(rate_s), int(workers_s or 1)
            n = int(rate * self.args.pacing_seconds)
            # in flight ≈ rate × request time (TTFT + 7 ITLs ≈ 0.12 s); the cap must never bind
            busy_s = (TTFT_MS + (PACING_TOKENS - 1) * ITL_MS) / 1e3
            c = max(64, math.ceil(rate * busy_s * 3))
            load = self.quiet()
            fast = gt_server("--fast", "--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS), cpu=SERVER_CPU)
            with fast as url:
                client = self.client("ours", url, c, n, PACING_TOKENS, rate=rate, workers=workers, seed=rep)
                log = gt_log(url)
            fig = pacing(client, log, rate)
            fig["concurrency"] = c
            fig["load_average_1m"] = load
            self.res["pacing"].setdefault(point, []).append(fig)
            print(_line(f"pacing {point} rep {rep}", fig), flush=True)

    def events(self, rep: int, order: list[str]) -> None:
        for per_write in self.args.events_per_write:
            for kind in order:
                load = self.quiet()
                server, url = firehose(self.args.events, per_write)
                try:
                    client = self.client(kind, url, 64, 128, self.args.events)
                finally:
                    server.kill()
                    server.wait()
                fig = event_figures(client)
                fig["load_average_1m"] = load
                self.res["event_rate"].setdefault(f"{kind}/{per_write}", []).append(fig)
                print(_line(f"events {kind} {per_write}/write rep {rep}", fig), flush=True)

    def run(self) -> None:
        only = set(self.args.only)
        for rep in range(self.args.repeats):
            order = self.kinds if rep % 2 == 0 else self.kinds[::-1]  # alternate: drift hits both
            if "accuracy" in only:
                self.accuracy(rep, order)
            if "pacing" in only:
                self.pacing(rep)
            if "events" in only:
                self.events(rep, order)
        self.res["load_average_after"] = os.getloadavg()

    def report(self) -> None:
        res, args = self.res, self.args
        print(f"\nmin/median/max over {args.repeats} repeat(s); load average before "
              f"{res['load_average_before']}, after {res['load_average_after']} on {os.cpu_count()} cores")
        med: dict[str, dict[str, float]] = {}
        for key, figs in res["accuracy"].items():
            print(f"{key:10s} " + "  ".join(f"{f}={_spread([x[f] for x in figs])}" for f in SHOWN)
                  + f"  load={_spread([x['load_average_1m'] for x in figs])}")
            med[key] = {f: float(np.median([x[f] for x in figs])) for f in FIGURES}
        for key, figs in res["pacing"].items():
            print(f"pacing {key:8s} " + "  ".join(f"{f}={_spread([x[f] for x in figs])}"
                                                  for f in PACING_FIGURES)
                  + f"  load={_spread([x['load_average_1m'] for x in figs])}")
        for key, figs in res["event_rate"].items():
            print(f"events {key:8s} " + "  ".join(f"{f}={_spread([x[f] for x in figs])}"
                                                  for f in EVENT_FIGURES)
                  + f"  load={_spread([x['load_average_1m'] for x in figs])}")
            med[f"events:{key}"] = {f: float(np.median([x[f] for x in figs])) for f in EVENT_FIGURES}
        if "vllm" in self.kinds:
            for per_write in args.events_per_write if "events" in args.only else []:
                ours, theirs = res["event_rate"][f"ours/{per_write}"], res["event_rate"][f"vllm/{per_write}"]
                ratios = [a["events_per_s"] / b["events_per_s"] for a, b in zip(ours, theirs, strict=True)]
                cpu = [a["events_per_cpu_s"] / b["events_per_cpu_s"]
                       for a, b in zip(ours, theirs, strict=True)]
                print(f"event rate ours/vllm at {per_write} event(s) per write, per repeat: achieved "
                      f"{_spread(ratios)}x, per CPU-second {_spread(cpu)}x")
            for c in args.concurrency if "accuracy" in args.only else []:
                for f in FIGURES:
                    o, v = med[f"ours@{c}"][f], med[f"vllm@{c}"][f]
                    ratio = abs(v) / max(abs(o), 1e-9)
                    print(f"c={c} {f}: ours {o:.3f}  vllm {v:.3f}  |vllm|/|ours| = {ratio:.1f}x")
        res["medians"] = med


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=("accuracy", "pacing", "events"),
                   default=["accuracy", "pacing", "events"])
    p.add_argument("--concurrency", type=int, nargs="+", default=[64, 512])
    p.add_argument("--requests-per-slot", type=int, default=4, help="measured requests = this × concurrency")
    p.add_argument("--output-len", type=int, default=OUTPUT_LEN, help="accuracy: tokens per request (32)")
    p.add_argument("--itl-ms", type=float, default=ITL_MS, help="accuracy: the server's ITL (default 10)")
    p.add_argument("--server", choices=("aiohttp", "fast"), default="aiohttp",
                   help="accuracy: the ground-truth server (default aiohttp; fast = raw protocols)")
    p.add_argument("--pacing", nargs="+", default=["1000", "2000", "5000:2"], metavar="RATE[:WORKERS]",
                   help="open-loop Poisson points (default 1000 2000 5000:2)")
    p.add_argument("--pacing-seconds", type=float, default=4.0, help="length of each pacing run (default 4)")
    p.add_argument("--repeats", type=int, default=3, help="repetitions per point (default 3)")
    p.add_argument("--no-vllm", action="store_true", help="skip vllm bench serve")
    p.add_argument("--events", type=int, default=2000, help="events per request in the event-rate test")
    p.add_argument("--events-per-write", type=int, nargs="+", default=[1, 8],
                   help="firehose events per write (default 1 8)")
    p.add_argument("--loadgen-root", type=Path, default=None,
                   help="measure the loadgen package under this directory (e.g. an older commit's export)")
    p.add_argument("--pacer", default=None, help="our client's pacer (default: its own default)")
    p.add_argument("--client-sched", choices=("default", "fifo"), default="default",
                   help="fifo: run every client under `chrt -f 1` (SCHED_FIFO; needs the privilege), "
                   "so other processes on the client core cannot delay its wake-ups (default: default)")
    p.add_argument("--wait-quiet", type=float, default=None, metavar="LOAD",
                   help="first wait until the 1-minute load average is below LOAD (10 tries, 60 s apart), "
                   "and before each measured point (--point-tries tries, 30 s apart)")
    p.add_argument("--point-tries", type=int, default=4, help="see --wait-quiet (default 4)")
    p.add_argument("--json", type=Path, default=None, help="also write all figures here")
    # internal: the pinned client process
    p.add_argument("--client-out", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--concurrency-one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--num", type=int, help=argparse.SUPPRESS)
    p.add_argument("--request-rate", type=float, default=float("inf"), help=argparse.SUPPRESS)
    p.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.client_out:
        client_main(args)
        return
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs 2 cores (server on core 0, client on core 1)")
    if args.client_sched == "fifo":
        bench_loadgen_lib.CLIENT_PREFIX[:] = ["chrt", "-f", "1"]
    if args.wait_quiet is not None:
        print(f"load average at start: {wait_quiet(args.wait_quiet, 10, 60.0):.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-loadgen-") as td:
        bench = Bench(args, Path(td))
        bench.run()
    bench.report()
    if args.json:
        args.json.write_text(json.dumps(bench.res, indent=2, default=str))


if __name__ == "__main__":
    main()
