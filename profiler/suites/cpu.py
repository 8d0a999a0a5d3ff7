"""cpu: 7-Zip's built-in LZMA benchmark over a thread list, with per-core rating and scaling.

``7z b -mmtN`` prints per-dictionary rows and two summary lines:

    Avr:      2325    74   3304   2445  |      37002    75   4268   3218
    Tot:              74   3786   2831

(speed KiB/s, usage %, R/U MIPS, rating MIPS for compression | decompression; total usage,
R/U and rating). Older p7zip builds omit the speed in ``Avr:``; we then average the rows.

scaling efficiency(N) = rating(N) / (N × rating(1)) — the seed's TEE table: 79.91 % at 32
threads from ratings 2,803 (1 thread) and 71,665 (32 threads).
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from typing import Any

from profiler.suites.base import SUITES, Rows, Suite, Tick, doubling_up_to, int_list
from profiler.suites.tools import require_tool, run_tool

_NUM = r"(\d+(?:\.\d+)?)"
_ROW = re.compile(r"^\s*(\d+):\s+(.+?)\|(.+)$")
_AVR = re.compile(r"^\s*Avr:\s+(.+?)\|(.+)$")
_TOT = re.compile(r"^\s*Tot:\s+" + _NUM + r"\s+" + _NUM + r"\s+" + _NUM + r"\s*$")
_THREADS = re.compile(r"#\s*Benchmark threads:\s*(\d+)")


@dataclass(frozen=True)
class SevenZipResult:
    threads: int | None
    compress_kib_s: float
    compress_usage_pct: float
    compress_ru_mips: float
    compress_rating_mips: float
    decompress_kib_s: float
    decompress_usage_pct: float
    decompress_ru_mips: float
    decompress_rating_mips: float
    total_usage_pct: float
    total_ru_mips: float
    total_rating_mips: float


def _nums(text: str) -> list[float]:
    return [float(x) for x in re.findall(_NUM, text)]


def parse_7z(text: str) -> SevenZipResult:
    """Parse ``7z b`` output (7-Zip 9.20 … 26.x, p7zip 16.02). Raises ValueError if it is not one."""
    rows: list[tuple[list[float], list[float]]] = []
    avr: tuple[list[float], list[float]] | None = None
    tot: list[float] | None = None
    threads = None
    for line in text.splitlines():
        if m := _THREADS.search(line):
            threads = int(m.group(1))
        elif m := _ROW.match(line):
            rows.append((_nums(m.group(2)), _nums(m.group(3))))
        elif m := _AVR.match(line):
            avr = (_nums(m.group(1)), _nums(m.group(2)))
        elif m := _TOT.match(line):
            tot = [float(g) for g in m.groups()]
    if avr is None or tot is None:
        raise ValueError("not 7-Zip benchmark output: no 'Avr:'/'Tot:' summary lines")

    def side(values: list[float], i: int) -> tuple[float, float, float, float]:
        if len(values) == 4:
            return values[0], values[1], values[2], values[3]
        if len(values) == 3:  # old format: no speed column in Avr; average the dictionary rows
            speeds = [r[i][0] for r in rows if len(r[i]) == 4]
            speed = sum(speeds) / len(speeds) if speeds else float("nan")
            return speed, values[0], values[1], values[2]
        raise ValueError(f"unexpected 7-Zip 'Avr:' columns: {values}")

    c = side(avr[0], 0)
    d = side(avr[1], 1)
    return SevenZipResult(threads, *c, *d, tot[0], tot[1], tot[2])


def scaling_efficiency(rating_n: float, n: int, rating_1: float) -> float:
    """rating(N) / (N × rating(1)), as a fraction (0.7991 for the seed's 32-thread row)."""
    if n < 1 or rating_1 <= 0:
        raise ValueError("scaling efficiency needs n >= 1 and a positive single-thread rating")
    return rating_n / (n * rating_1)


def seven_zip_command(exe: str, threads: int, passes: int | None, dict_log2: int | None) -> list[str]:
    cmd = [exe, "b"]
    if passes:
        cmd.append(str(passes))
    cmd.append(f"-mmt{threads}")
    if dict_log2:
        cmd.append(f"-md{dict_log2}")
    return cmd


def _threads(args: argparse.Namespace) -> list[int]:
    return list(args.threads) if args.threads else doubling_up_to(os.cpu_count() or 1)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int_list, default=None,
                   help="thread counts for -mmtN (default: 1,2,4,… up to the number of cores)")
    p.add_argument("--passes", type=int, default=None,
                   help="7-Zip benchmark passes (default: 7-Zip's own; 1 is quick)")
    p.add_argument("--dict-log2", type=int, default=None,
                   help="dictionary size 2^N bytes (-mdN; default: 7-Zip's 22..25 sweep; 18 is quick)")
    p.add_argument("--tool-timeout", type=float, default=1800.0,
                   help="seconds one 7z invocation may take (default: 1800)")


def _prepare(args: argparse.Namespace) -> dict[str, Any]:
    exe = require_tool(("7zz", "7z"), "7zip (or p7zip-full)", "the cpu suite")
    args._exe = exe
    return {"tool": exe, "threads": _threads(args), "passes": args.passes, "dict_log2": args.dict_log2}


def _measure(args: argparse.Namespace, rows: Rows, tick: Tick) -> None:
    ratings: dict[int, float] = {}
    for n in _threads(args):
        cmd = seven_zip_command(args._exe, n, args.passes, args.dict_log2)
        res = parse_7z(run_tool(cmd, timeout_s=args.tool_timeout, what="7z benchmark"))
        case = f"threads={n}"
        for metric, value, unit in (
            ("compress_speed", res.compress_kib_s, "KiB/s"),
            ("decompress_speed", res.decompress_kib_s, "KiB/s"),
            ("compress_rating", res.compress_rating_mips, "MIPS"),
            ("decompress_rating", res.decompress_rating_mips, "MIPS"),
            ("total_rating", res.total_rating_mips, "MIPS"),
            ("per_core_rating", res.total_rating_mips / n, "MIPS"),
            ("total_usage", res.total_usage_pct, "%"),
        ):
            rows.add(metric, value, unit=unit, direction="throughput", case=case, threads=n)
        ratings[n] = res.total_rating_mips
        tick(case)
    if 1 in ratings:
        for n, rating in ratings.items():
            eff = scaling_efficiency(rating, n, ratings[1])
            rows.add("scaling_efficiency", 100.0 * eff, unit="%", direction="throughput",
                     case=f"threads={n}", threads=n)


SUITES.add(
    "cpu",
    Suite(
        name="cpu",
        help="7-Zip LZMA benchmark: MIPS rating, per-core rating, thread-scaling efficiency",
        description="Runs `7z b -mmtN` for each thread count and parses compression and "
        "decompression KiB/s, MIPS ratings and the total rating; adds rating per thread and "
        "scaling efficiency = rating(N) / (N x rating(1)).\n\n"
        "example:\n  tee-llm-prof suite cpu --threads 1,2,4 --label on --out runs/ --repeats 3\n"
        "  tee-llm-prof suite cpu --threads 1,2 --passes 1 --dict-log2 18 --label off --out runs/",
        add_arguments=_add_arguments,
        prepare=_prepare,
        measure=_measure,
        steps=lambda a: len(_threads(a)),
    ),
)
