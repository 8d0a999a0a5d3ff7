"""io: fio with JSON output over the seed's job set, in a directory the user names.

Jobs (each ``--runtime`` seconds, time-based, one file of ``--size`` reused by all jobs):
random read / write IOPS (4k, QD64), bandwidth (1M, QD16), average latency (4k, QD1),
sequential read / write (1M, QD8) and a 75/25 random read/write mix (4k, QD64). The defaults
(64M, 5 s × 9 jobs) finish in about a minute. Everything goes into a fresh sub-directory
that is removed afterwards, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler.errors import UserError
from profiler.suites.base import SUITES, Rows, Suite, Tick, size_bytes
from profiler.suites.tools import require_tool, run_tool

DATA_FILE = "tee-llm-prof-fio.dat"


@dataclass(frozen=True)
class FioJob:
    name: str
    rw: str
    bs: str
    iodepth: int
    #: which numbers this job is for: iops, bw, lat
    reports: tuple[str, ...]
    rwmixread: int | None = None


JOBS: tuple[FioJob, ...] = (
    FioJob("randread-iops", "randread", "4k", 64, ("iops",)),
    FioJob("randwrite-iops", "randwrite", "4k", 64, ("iops",)),
    FioJob("read-bw", "randread", "1m", 16, ("bw",)),
    FioJob("write-bw", "randwrite", "1m", 16, ("bw",)),
    FioJob("randread-lat", "randread", "4k", 1, ("lat",)),
    FioJob("randwrite-lat", "randwrite", "4k", 1, ("lat",)),
    FioJob("seqread", "read", "1m", 8, ("bw",)),
    FioJob("seqwrite", "write", "1m", 8, ("bw",)),
    FioJob("mixed-75-25", "randrw", "4k", 64, ("iops", "lat"), rwmixread=75),
)
JOB_NAMES = tuple(j.name for j in JOBS)


def fio_command(
    exe: str, job: FioJob, directory: Path, size: int, runtime_s: int, direct: bool, engine: str
) -> list[str]:
    cmd = [
        exe, "--output-format=json", f"--name={job.name}", f"--directory={directory}",
        f"--filename={DATA_FILE}", f"--size={size}", f"--runtime={runtime_s}", "--time_based",
        f"--ioengine={engine}", f"--direct={int(direct)}", f"--rw={job.rw}", f"--bs={job.bs}",
        f"--iodepth={job.iodepth}", "--group_reporting", "--randrepeat=0",
    ]
    if job.rwmixread is not None:
        cmd.append(f"--rwmixread={job.rwmixread}")
    return cmd


def parse_fio(text: str) -> dict[str, dict[str, float]]:
    """fio JSON → {"read"|"write": {iops, bw_mib_s, lat_avg_us, clat_p99_us}} for directions with I/O.

    fio may print warnings before the JSON document; we start at the first '{'.
    """
    start = text.find("{")
    if start < 0:
        raise ValueError("fio printed no JSON document")
    doc = json.loads(text[start:])
    job = doc["jobs"][0]
    if job.get("error"):
        raise RuntimeError(f"fio job {job.get('jobname')} failed with error {job['error']}")
    out: dict[str, dict[str, float]] = {}
    for direction in ("read", "write"):
        d = job.get(direction) or {}
        if not d.get("io_bytes"):
            continue
        pct = (d.get("clat_ns") or {}).get("percentile") or {}
        p99 = pct.get("99.000000")
        out[direction] = {
            "iops": float(d["iops"]),
            "bw_mib_s": float(d["bw_bytes"]) / (1 << 20),
            "lat_avg_us": float(d["lat_ns"]["mean"]) / 1000.0,
            "clat_p99_us": float(p99) / 1000.0 if p99 is not None else float("nan"),
        }
    return out


def supports_direct_io(directory: Path) -> bool:
    """tmpfs and some overlay filesystems reject O_DIRECT; fio would fail with EINVAL."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return False
    probe = directory / ".tee-llm-prof-odirect"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY | flag, 0o600)
        os.close(fd)
        return True
    except OSError:
        return False
    finally:
        probe.unlink(missing_ok=True)


def _jobs(args: argparse.Namespace) -> list[FioJob]:
    wanted = args.jobs or list(JOB_NAMES)
    unknown = [j for j in wanted if j not in JOB_NAMES]
    if unknown:
        raise UserError(f"unknown fio job(s) {unknown}; known: {', '.join(JOB_NAMES)}")
    return [j for j in JOBS if j.name in wanted]


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, default=Path("."),
                   help="directory on the disk to test (a sub-directory is created and removed)")
    p.add_argument("--size", type=size_bytes, default=size_bytes("64M"),
                   help="test file size, e.g. 64M or 1G (default: 64M)")
    p.add_argument("--runtime", type=int, default=5, help="seconds per job (default: 5)")
    p.add_argument("--jobs", type=lambda s: [x for x in s.split(",") if x], default=None,
                   help=f"comma-separated subset of: {', '.join(JOB_NAMES)}")
    p.add_argument("--ioengine", default="libaio", help="fio ioengine (default: libaio)")
    p.add_argument("--buffered", action="store_true",
                   help="use the page cache (direct=0); automatic where O_DIRECT is unsupported")


def _prepare(args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(args.dir)
    if not directory.is_dir():
        raise UserError(f"--dir {directory} is not an existing directory")
    if not os.access(directory, os.W_OK):
        raise UserError(f"--dir {directory} is not writable")
    if args.runtime < 1:
        raise UserError("--runtime must be at least 1 second")
    jobs = [j.name for j in _jobs(args)]
    args._exe = require_tool(("fio",), "fio", "the io suite")
    args._direct = not args.buffered and supports_direct_io(directory)
    return {
        "tool": args._exe, "dir": str(directory.resolve()), "size_bytes": args.size,
        "runtime_s": args.runtime, "jobs": jobs,
        "direct": args._direct, "ioengine": args.ioengine,
    }


def _measure(args: argparse.Namespace, rows: Rows, tick: Tick) -> None:
    work = Path(tempfile.mkdtemp(prefix="tee-llm-prof-io-", dir=args.dir))
    try:
        for job in _jobs(args):
            cmd = fio_command(args._exe, job, work, args.size, args.runtime, args._direct, args.ioengine)
            res = parse_fio(run_tool(cmd, timeout_s=args.runtime * 4 + 120, what=f"fio {job.name}"))
            for direction, m in res.items():
                case = f"job={job.name} {direction}"
                kw: dict[str, Any] = {"case": case, "job": job.name, "bs": job.bs, "iodepth": job.iodepth}
                if "iops" in job.reports:
                    rows.add("iops", m["iops"], unit="IOPS", direction="throughput", **kw)
                if "bw" in job.reports:
                    rows.add("bandwidth", m["bw_mib_s"], unit="MiB/s", direction="throughput", **kw)
                if "lat" in job.reports:
                    rows.add("lat_avg", m["lat_avg_us"], unit="us", direction="latency", **kw)
                    rows.add("clat_p99", m["clat_p99_us"], unit="us", direction="latency", **kw)
            tick(job.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)


SUITES.add(
    "io",
    Suite(
        name="io",
        help="fio: random IOPS, bandwidth, QD1 latency, sequential and 75/25 mixed I/O",
        description="Runs fio (JSON output) for each job of the seed's set in a fresh "
        "sub-directory of --dir, which is always removed afterwards. Defaults finish in about "
        "a minute (9 jobs x 5 s).\n\n"
        "example:\n  tee-llm-prof suite io --dir /mnt/data --size 64M --runtime 5 --label on --out runs/\n"
        "  tee-llm-prof suite io --dir /tmp --size 16M --runtime 1 --jobs randread-iops,seqread "
        "--label off --out runs/",
        add_arguments=_add_arguments,
        prepare=_prepare,
        measure=_measure,
        steps=lambda a: len(_jobs(a)),
    ),
)
