"""`tee-llm-prof suite NAME …`: run one secondary suite (cpu, io, net, zk, gpu, llm) for one leg."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from profiler.errors import UserError

DESCRIPTION = """\
Run one measurement suite on this machine for one leg (--label on|off) and write a run
directory under --out: manifest.json (kind = the suite name), results.parquet (one row per
measurement: metric, unit, value, case, threads, repeat) and summary.json. Run it inside the
TEE (--label on) and outside (--label off), then compare the two run directories with
`tee-llm-prof compare` for overheads with 95% CIs over the repetitions.

examples:
  tee-llm-prof suite --list
  tee-llm-prof suite cpu --threads 1,2,4 --repeats 3 --label on --out runs/
  tee-llm-prof suite io --dir /mnt/nvme --size 64M --runtime 5 --label off --out runs/
  tee-llm-prof suite net --url http://10.0.0.5:8080/ --url https://10.0.0.5:8443/ \\
      --concurrency 8,32 --label on --out runs/
  tee-llm-prof suite zk --threads 4 --label on --out runs/
  tee-llm-prof suite cpu --label on --out runs/on --cluster 10.0.0.7:6379 --gpu-nodes-only
                                         the same suite on every (GPU) node of a Ray cluster
  tee-llm-prof suite NAME --help        the options of one suite

With --cluster ADDRESS each node of the Ray cluster runs this same command itself (a Ray task
starts it there; the ray extra and the same version on every node) and sends its run directory
back: --out receives one run directory per node, whose manifest names the node (cluster.node).
`compare` then shows the nodes as a dimension: each node's values and how far they spread.
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label", required=True, help="leg label, usually 'on' (TEE) or 'off'")
    p.add_argument("--out", type=Path, required=True, help="directory that receives the run directory")
    p.add_argument("--repeats", type=int, default=1,
                   help="repetitions inside this run (CIs in compare need >= 2 per leg; default 1)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run this suite on every node of the Ray cluster at ADDRESS (one run directory "
                   "per node)")
    p.add_argument("--gpu-nodes-only", action="store_true",
                   help="with --cluster: only the nodes whose Ray resources include a GPU")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from profiler.suites import load_all

    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    sub = parser.add_subparsers(dest="suite", metavar="NAME")
    for name, suite in load_all().items():
        p = sub.add_parser(
            name,
            help=suite.help,
            description=suite.description or suite.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if suite.run is None:  # the llm suite brings its own options (it is a profile)
            _common(p)
        suite.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    from profiler.suites import SUITES, SuiteSkipped, load_all, run_suite

    load_all()
    if args.list or not args.suite:
        for name, suite in SUITES.items():
            print(f"{name:6s} {suite.help}")
        if not args.list:
            print("\nrun one with: tee-llm-prof suite NAME --label on|off --out DIR", file=sys.stderr)
        return 0
    suite = SUITES.get(args.suite)
    if getattr(args, "cluster", None):
        return _fleet(args)
    if getattr(args, "gpu_nodes_only", False):
        raise UserError("--gpu-nodes-only only applies with --cluster ADDRESS")
    try:
        if suite.run is not None:
            return int(suite.run(args) or 0)
        path = run_suite(suite, args)
    except SuiteSkipped as exc:
        print(f"skipped: suite {suite.name}: {exc}")
        return 0
    except UserError as exc:
        if isinstance(exc.__cause__, SuiteSkipped):
            print(f"skipped: suite {suite.name}: {exc.__cause__}")
            return 0
        raise
    _print_summary(path)
    print(path)
    return 0


def _fleet(args: argparse.Namespace) -> int:
    """The suite on every node; its run directories land in --out as the nodes answer."""
    from rich.console import Console

    from profiler.cluster.fleet import without_options
    from profiler.cluster.fleet_commands import suite_fleet
    from profiler.report import show
    from profiler.report.model import Table

    argv = without_options(args._argv, {"--cluster": 1, "--out": 1, "--gpu-nodes-only": 0})
    rows, failed = [], 0
    for node, dirs, why in suite_fleet(args.cluster, argv, args.out, gpu_only=args.gpu_nodes_only):
        failed += bool(why) or not dirs
        where = ", ".join(str(d) for d in dirs) or "—"
        rows.append([node.ip, node.hostname or "—", where, why or "complete"])
    show(Console(), Table(f"suite {args.suite} on {len(rows)} nodes of {args.cluster}",
                          ["node", "host", "run directory", "status"], rows, align=["l"] * 4))  # fmt: skip
    if failed:
        print(f"error: {failed} of {len(rows)} nodes have no complete run (see the table)", file=sys.stderr)
    return 1 if failed else 0


def _print_summary(path: Path) -> None:
    from rich.console import Console

    from profiler.report import show
    from profiler.report.suite_view import suite_table
    from profiler.store import read_run

    show(Console(), suite_table(read_run(path)))
