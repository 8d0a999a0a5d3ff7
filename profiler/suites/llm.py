"""llm: the main suite — LLM serving under a TEE — is the profile itself, registered here so
every suite is listed and run the same way. ``tee-llm-prof suite llm --model KEY …`` is exactly
``tee-llm-prof profile --model KEY …`` (both legs, load points, blocks, compare, report): the
options and the job come from the experiment package, imported only when this suite is used.
"""

from __future__ import annotations

import argparse

from profiler.suites.base import SUITES, Suite


def _add_arguments(p: argparse.ArgumentParser) -> None:
    from profiler.experiment.arguments import add_profile_arguments

    add_profile_arguments(p)


def _run(args: argparse.Namespace) -> int:
    from profiler.experiment.profile_job import ProfileJob, run_job

    return run_job(ProfileJob.from_args(args))


SUITES.add(
    "llm",
    Suite(
        name="llm",
        help="LLM serving: the full profile (both legs, load points, blocks, CIs) — same as `profile`",
        description="The main suite: TTFT, ITL/TPOT, E2EL, tokens/s and requests/s on the TEE-on "
        "and TEE-off endpoints with overheads and 95% CIs. It is the `profile` command; see "
        "`tee-llm-prof profile --help` for where the legs come from.\n\n"
        "example:\n  tee-llm-prof suite llm --model tiny-llama --num-requests 32 --repeats 1 "
        "--out /tmp/prof\n"
        "  tee-llm-prof suite llm --model llama-3.1-8b --tee-on http://10.0.0.5:8000 "
        "--tee-off http://10.0.0.6:8000",
        add_arguments=_add_arguments,
        run=_run,
    ),
)
