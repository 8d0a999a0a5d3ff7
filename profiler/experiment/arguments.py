"""The options of a profile, shared by ``profile``, ``suite llm`` and the service's job runner.

Kept apart from the profile's implementation so ``--help`` stays light (nothing numeric or
networked is imported to build the parser).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from profiler.flags import add_workload_flags

#: The workload flags a profile offers (the service passes the same ones).
PROFILE_FIELDS = (
    "dataset", "api", "input_len", "output_len", "range_ratio", "prefix_len", "num_requests", "concurrency",
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
    p.add_argument("--no-report", action="store_true", help="skip the reports (md/html/png)")
