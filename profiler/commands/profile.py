"""`tee-llm-prof profile --model KEY` (also `tee-llm-prof --model KEY`): the main job."""

from __future__ import annotations

import argparse

from profiler.experiment.arguments import add_profile_arguments

DESCRIPTION = """\
Profile one model: run the same seeded workload on the TEE-on and the TEE-off endpoint at
every load point (request rates from models.yaml or --request-rates), in blocks — one run of
each leg, adjacent in time, identical prompts and arrival times, ABBA order (on, off, then
off, on …) — one run directory per leg × load point × block, a profile.json tying them
together, a per-run summary, then overheads with 95% CIs and the reports.

Where the legs come from, first match wins:
  1. --tee-on URL --tee-off URL
  2. endpoints: {tee_on, tee_off} of the model in models.yaml
  3. the model's engine, launched here and always stopped afterwards: vllm-cpu (the embedded
     default, a tiny model generated on this machine) or vllm-cuda (dummy weights on a GPU).
With one endpoint (case 3, or a single URL) both legs are the same server: an A/A
calibration that measures the noise floor, and the output says so.

Every option is checked before anything starts (a misspelt dataset fails in a second, not
after vLLM has loaded). Ctrl-C or SIGTERM stops the engine and keeps every run measured so
far, marked incomplete.

examples:
  tee-llm-prof --model tiny-llama                         # embedded default (vLLM CPU)
  tee-llm-prof --model tiny-llama --num-requests 32 --repeats 1 --out /tmp/prof
  tee-llm-prof --model llama-3.1-70b                      # endpoints from models.yaml
  tee-llm-prof profile --model llama-3.1-8b --tee-on http://10.0.0.5:8000 \\
      --tee-off http://10.0.0.6:8000 --request-rates 1,4,16,inf --repeats 3
"""

add_arguments = add_profile_arguments


def run(args: argparse.Namespace) -> int:
    from profiler.experiment.profile_job import ProfileJob, run_job

    return run_job(ProfileJob.from_args(args))
