"""The options of a profile, shared by ``profile``, ``suite llm`` and the service's job runner.

Kept apart from the profile's implementation so ``--help`` stays light (nothing numeric or
networked is imported to build the parser).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from profiler.cluster.options import add_cluster_arguments
from profiler.flags import add_workload_flags

#: The workload flags a profile offers (the service passes the same ones).
PROFILE_FIELDS = (
    "dataset", "api", "input_len", "output_len", "range_ratio", "prefix_len", "num_requests", "duration_s",
    "concurrency",
    "request_rates", "schedule", "burstiness", "ramp_up_s", "warmup", "repeats", "seed", "timeout_s", "slos",
)  # fmt: skip


def add_profile_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model key in models.yaml (see: tee-llm-prof models)")
    p.add_argument(
        "--models",
        default=None,
        metavar="PATH",
        help="models.yaml to use (default: ./models.yaml, $TEE_LLM_PROF_MODELS, the bundled one)",
    )
    p.add_argument("--tee-on", default=None, metavar="URL", help="base URL of the TEE-on endpoint")
    p.add_argument("--tee-off", default=None, metavar="URL", help="base URL of the TEE-off endpoint")
    p.add_argument("--out", type=Path, default=Path("results"), help="where profiles go (default results/)")
    p.add_argument(
        "--profile-id",
        default=None,
        metavar="ID",
        help="profile directory name (default: <time>-profile-<model>-<random>)",
    )
    p.add_argument("--port", type=int, default=None, help="port for a launched engine (default: a free one)")
    add_workload_flags(
        p.add_argument_group("workload (defaults: the model's workload in models.yaml)"), PROFILE_FIELDS
    )
    legs = p.add_argument_group("legs (default: --tee-on/--tee-off, models.yaml, or the launched engine)")
    legs.add_argument("--leg", action="append", default=[], metavar="NAME=URL",
                      help="a named leg (repeat for k legs, e.g. --leg base=URL --leg tdx=URL --leg cc=URL)")
    legs.add_argument("--baseline", default=None, metavar="NAME",
                      help="the leg every other is compared against (default: off, else the first leg)")
    legs.add_argument("--chain", default=None, metavar="A,B,C",
                      help="also compare each successive increment (B vs A, C vs B) and decompose the total")
    legs.add_argument("--leg-evidence", action="append", default=[], metavar="NAME=FILE",
                      help="the leg's TEE evidence: `tee-llm-prof validate --json` run on its host (a leg "
                      "on this host gets this host's at once); the report warns when it contradicts "
                      "the leg's name (a leg 'cc' with CC off, a baseline that is a TDX guest)")
    legs.add_argument("--allow-model-mismatch", action="store_true",
                      help="measure even when a leg's /v1/models does not list the model, or the legs "
                      "serve different models (the report then compares unlike things)")
    legs.add_argument("--legs-at-once", action="store_true",
                      help="run every block's legs at the same time (legs on different servers only)")
    legs.add_argument("--inject", action="append", default=[], metavar="NAME=LEG:COST",
                      help="positive control: a leg NAME reaching LEG through a proxy that adds COST, e.g. "
                      "injected=off:per_event_us=800 or slow=off:first_byte_ms=5")
    prec = p.add_argument_group("precision (stop at a target CI instead of a fixed --repeats)")
    prec.add_argument("--target-ci", type=float, default=None, metavar="PCT",
                      help="add blocks until the headline CIs are ±PCT points "
                      "(two-stage rule: docs/experiment.md)")
    prec.add_argument("--target-metrics", default=None, metavar="KEY[,KEY…]",
                      help="the metrics --target-ci applies to (default: mean_ttft_ms, mean_tpot_ms, "
                      "steady_output_throughput)")
    prec.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                      help="with --target-ci: seconds of measuring for the whole profile, split evenly over "
                      "its load points; a point stops once its share is spent, whatever the CI")
    prec.add_argument(
        "--pilot-blocks",
        type=int,
        default=8,
        metavar="N",
        help="with --target-ci: blocks that measure the spread before the rest is sized (default 8)",
    )
    prec.add_argument(
        "--max-blocks",
        type=int,
        default=200,
        metavar="N",
        help="with --target-ci: never more blocks per load point than this (default 200)",
    )
    add_cluster_arguments(p.add_argument_group("load workers (default: one process on this host)"))
    p.add_argument("--no-report", action="store_true", help="skip the reports (md/html/png)")
