"""zk: the memory-bound side of zk proving — hash throughput against a memory-bandwidth baseline.

Memory encryption (TDX/SEV-SNP) taxes every DRAM access, and zk provers hash a lot of data.
We hash one buffer much larger than any last-level cache (``--buffer-mb``, default 1 GiB)
with SHA-256 and Keccak on 1..N threads (each thread takes a contiguous slice; ``hashlib``
releases the GIL while it digests a large buffer, so threads really run in parallel), and
measure the memory baseline the same way: a numpy copy of the same buffer, slice per thread.

- hash throughput (MB/s, 10^6 bytes) = bytes hashed / wall time from a common start barrier
  to the last thread's end;
- memory copy rate (MB/s) = bytes copied / wall time (counted once per byte, like ``mbw``);
- memory fraction = hash throughput / memory copy rate on the same thread count.

"Keccak" is hashlib's SHA3-256: the same Keccak-f[1600] permutation and rate (1088 bits) as
Ethereum's Keccak-256 — only the padding byte differs — so its throughput is the same.

Optionally runs an external prover (``--prover-cmd``, e.g. an SP1 program): total wall time,
proof time parsed from its output by ``--proof-time-regex``, proof size of ``--proof-file``,
and a cycles/s speed when ``--cycles`` is given.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from profiler.errors import UserError
from profiler.suites.base import SUITES, Rows, Suite, Tick, doubling_up_to

#: metric name → hashlib constructor name
HASHES: dict[str, str] = {"sha256": "sha256", "keccak": "sha3_256"}
_UNIT_S = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "m": 60.0, "min": 60.0}


def parallel_rate(work: Callable[[int], int], threads: int) -> float:
    """Bytes per second of ``work(i)`` (returns bytes processed) over ``threads`` threads.

    All threads wait on one barrier; the clock runs from its release to the last join.
    """
    barrier = threading.Barrier(threads + 1)
    done = [0] * threads
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            done[i] = work(i)
        except BaseException as exc:  # surface in the caller, not as a thread traceback
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    t0 = time.perf_counter_ns()
    for t in pool:
        t.join()
    elapsed = time.perf_counter_ns() - t0
    if errors:
        raise RuntimeError(f"worker failed: {errors[0]}")
    return sum(done) / (elapsed / 1e9)


def slices(nbytes: int, threads: int) -> list[slice]:
    step = nbytes // threads
    return [slice(i * step, nbytes if i == threads - 1 else (i + 1) * step) for i in range(threads)]


def _passes(rounds: int, min_time_s: float) -> Callable[[], bool]:
    """True while another pass is due: at least ``rounds`` passes and ``min_time_s`` seconds,
    so that a small buffer on a noisy host is still timed over a meaningful interval."""
    state = {"done": 0, "deadline": time.perf_counter() + min_time_s}

    def more() -> bool:
        state["done"] += 1
        return state["done"] <= rounds or time.perf_counter() < state["deadline"]

    return more


def hash_rate(algo: str, buf: np.ndarray, threads: int, rounds: int = 1, min_time_s: float = 0.0) -> float:
    """MB/s (10^6 B/s) of ``hashlib.new(algo)`` over ``buf`` split across ``threads``."""
    parts = [memoryview(buf[s].data) for s in slices(buf.nbytes, threads)]

    def work(i: int) -> int:
        more, n = _passes(rounds, min_time_s), 0
        while more():
            h = hashlib.new(algo)
            h.update(parts[i])  # one big update: the GIL is released for the whole digest
            h.digest()
            n += 1
        return parts[i].nbytes * n

    return parallel_rate(work, threads) / 1e6


def copy_rate(
    src: np.ndarray, dst: np.ndarray, threads: int, rounds: int = 1, min_time_s: float = 0.0
) -> float:
    """MB/s of numpy copies src → dst (bytes copied, counted once), split across ``threads``."""
    sl = slices(src.nbytes, threads)

    def work(i: int) -> int:
        more, n = _passes(rounds, min_time_s), 0
        while more():
            np.copyto(dst[sl[i]], src[sl[i]])  # numpy releases the GIL for the copy
            n += 1
        return int((sl[i].stop - sl[i].start) * n)

    return parallel_rate(work, threads) / 1e6


def parse_duration_s(text: str, pattern: str) -> float:
    """Seconds from the first match of ``pattern`` (group 1 = number, optional group 2 = unit)."""
    m = re.search(pattern, text, flags=re.MULTILINE)
    if not m:
        raise RuntimeError(f"--proof-time-regex {pattern!r} matched nothing in the prover output")
    value = float(m.group(1))
    unit = (m.group(2) if m.re.groups >= 2 and m.group(2) else "s").strip().lower()
    if unit not in _UNIT_S:
        raise RuntimeError(f"unknown time unit {unit!r} in prover output (known: {sorted(_UNIT_S)})")
    return value * _UNIT_S[unit]


def run_prover(cmd: str, timeout_s: float) -> tuple[float, str]:
    """Run the prover; return (wall seconds, stdout+stderr). Non-zero exit is an error."""
    argv = shlex.split(cmd)
    t0 = time.perf_counter_ns()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError:
        raise UserError(f"--prover-cmd: {argv[0]!r} not found") from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"prover did not finish within {timeout_s:.0f} s") from None
    wall = (time.perf_counter_ns() - t0) / 1e9
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        tail = " | ".join(output.strip().splitlines()[-3:])
        raise RuntimeError(f"prover exited with {proc.returncode}: {tail}")
    return wall, output


def _threads(args: argparse.Namespace) -> list[int]:
    spec = str(args.threads) if args.threads is not None else str(os.cpu_count() or 1)
    try:
        values = [int(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--threads {spec!r}: give N (→ 1,2,4,…,N) or a list like 1,3,8") from None
    if not values or min(values) < 1:
        raise UserError(f"--threads {spec!r} must be positive")
    return doubling_up_to(values[0]) if len(values) == 1 else values


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", default=None,
                   help="N (runs 1,2,4,…,N) or an explicit list like 1,3,8 (default: number of cores)")
    p.add_argument("--buffer-mb", type=int, default=1024,
                   help="buffer size in MiB; keep it well beyond the last-level cache (default 1024)")
    p.add_argument("--rounds", type=int, default=1, help="minimum passes over the buffer per measurement")
    p.add_argument("--min-time", type=float, default=1.0,
                   help="minimum seconds per measurement; more passes are made until it is reached "
                   "(default 1.0)")
    p.add_argument("--hashes", default=",".join(HASHES), help=f"subset of: {', '.join(HASHES)}")
    p.add_argument("--skip-hash", action="store_true", help="only run the prover")
    p.add_argument("--prover-cmd", default=None, help="external prover command line (optional)")
    p.add_argument("--proof-time-regex", default=None,
                   help=r"regex over the prover output; group 1 = number, group 2 = unit (s|ms|us), "
                   r"e.g. 'proof time: ([\d.]+) ?(ms|s)'")
    p.add_argument("--proof-file", type=Path, default=None,
                   help="file the prover writes; its size is recorded")
    p.add_argument("--cycles", type=float, default=None,
                   help="cycle count of the proven program (for cycles/s)")
    p.add_argument("--prover-timeout", type=float, default=3600.0, help="seconds (default 3600)")


def _prepare(args: argparse.Namespace) -> dict[str, Any]:
    hashes = [h for h in args.hashes.split(",") if h]
    unknown = [h for h in hashes if h not in HASHES]
    if unknown:
        raise UserError(f"unknown hash(es) {unknown}; known: {', '.join(HASHES)}")
    if args.buffer_mb < 1 or args.rounds < 1:
        raise UserError("--buffer-mb and --rounds must be at least 1")
    if args.skip_hash and not args.prover_cmd:
        raise UserError("--skip-hash needs --prover-cmd (nothing to run otherwise)")
    if args.proof_time_regex:
        try:
            re.compile(args.proof_time_regex)
        except re.error as exc:
            raise UserError(f"--proof-time-regex is not a valid regex: {exc}") from None
    args._hashes = hashes
    return {
        "threads": _threads(args), "buffer_bytes": args.buffer_mb << 20, "rounds": args.rounds,
        "min_time_s": args.min_time,
        "hashes": {h: HASHES[h] for h in hashes}, "skip_hash": args.skip_hash,
        "prover_cmd": args.prover_cmd, "proof_time_regex": args.proof_time_regex,
        "proof_file": str(args.proof_file) if args.proof_file else None, "cycles": args.cycles,
    }


def _measure(args: argparse.Namespace, rows: Rows, tick: Tick) -> None:
    if not args.skip_hash:
        _measure_hashes(args, rows, tick)
    if args.prover_cmd:
        _measure_prover(args, rows)
        tick("prover")


def _measure_hashes(args: argparse.Namespace, rows: Rows, tick: Tick) -> None:
    nbytes = args.buffer_mb << 20
    src = np.frombuffer(np.random.default_rng(rows.repeat).bytes(nbytes), dtype=np.uint8)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault the destination pages in before anything is timed
    for n in _threads(args):
        case = f"threads={n}"
        base = copy_rate(src, dst, n, args.rounds, args.min_time)
        rows.add("memory_copy", base, unit="MB/s", direction="throughput", case=case, threads=n)
        for name in args._hashes:
            rate = hash_rate(HASHES[name], src, n, args.rounds, args.min_time)
            rows.add(f"{name}_throughput", rate, unit="MB/s", direction="throughput", case=case,
                     threads=n, algorithm=HASHES[name])
            rows.add(f"{name}_memory_fraction", 100.0 * rate / base, unit="%",
                     direction="throughput", case=case, threads=n)
        tick(case)


def _measure_prover(args: argparse.Namespace, rows: Rows) -> None:
    if args.proof_file is not None:
        args.proof_file.unlink(missing_ok=True)  # a stale proof must not be measured
    total_s, output = run_prover(args.prover_cmd, args.prover_timeout)
    rows.add("prover_total_time", total_s, unit="s", direction="latency", case="prover")
    proof_s = None
    if args.proof_time_regex:
        proof_s = parse_duration_s(output, args.proof_time_regex)
        rows.add("prover_proof_time", proof_s, unit="s", direction="latency", case="prover")
    if args.proof_file is not None:
        if not args.proof_file.is_file():
            raise RuntimeError(f"the prover did not write --proof-file {args.proof_file}")
        rows.add("proof_size", args.proof_file.stat().st_size, unit="bytes", direction="latency",
                 case="prover")
    if args.cycles:
        seconds = proof_s if proof_s else total_s
        rows.add("prover_speed", args.cycles / seconds, unit="cycles/s", direction="throughput",
                 case="prover", basis="proof_time" if proof_s else "total_time")


SUITES.add(
    "zk",
    Suite(
        name="zk",
        help="SHA-256/Keccak MB/s vs a memory-copy baseline on 1..N threads; optional external prover",
        description="Hashes a buffer far beyond cache with SHA-256 and Keccak (SHA3-256) on 1..N "
        "threads and reports MB/s and the fraction of a numpy memory-copy baseline measured the "
        "same way. With --prover-cmd it also times an external prover (proof time by regex, proof "
        "size, cycles/s).\n\n"
        "example:\n  tee-llm-prof suite zk --threads 8 --label on --out runs/\n"
        "  tee-llm-prof suite zk --threads 1 --buffer-mb 256 --prover-cmd 'cargo run --release' "
        "--proof-time-regex 'proving took ([\\d.]+)(ms|s)' --proof-file proof.bin --cycles 2.1e7 "
        "--label off --out runs/",
        add_arguments=_add_arguments,
        prepare=_prepare,
        measure=_measure,
        steps=lambda a: (0 if a.skip_hash else len(_threads(a))) + (1 if a.prover_cmd else 0),
    ),
)
