"""`tee-llm-prof profile --model KEY` (also `tee-llm-prof --model KEY`): the main job."""

from __future__ import annotations

import argparse

from profiler.experiment.arguments import add_profile_arguments

DESCRIPTION = """\
Profile one model: run the same seeded workload on every leg (TEE on and TEE off, or k named
legs such as base, tdx and cc) at every load point (request rates from models.yaml or
--request-rates), in blocks: one run of each leg, adjacent in time, identical prompts and
arrival times, in a balanced order (ABBA for two legs, Williams for more). One run directory
per leg × load point × block, a profile.json tying them together, then each leg against the
baseline (and along --chain) with paired-block 95% CIs, the power to see a given overhead, and
the reports. --target-ci keeps adding blocks until the headline CIs are that narrow.

Where the legs come from, first match wins:
  1. --leg NAME=URL (repeat for k legs), or --tee-on URL --tee-off URL
  2. legs: {name: url} or endpoints: {tee_on, tee_off} of the model in models.yaml
  3. the model's engine, launched here and always stopped afterwards: vllm-cpu (the embedded
     default, a tiny model generated on this machine) or vllm-cuda (dummy weights on a GPU).
With one endpoint (case 3, or a single URL) both legs are the same server: an A/A
calibration that measures the noise floor, and the output says so. --inject NAME=LEG:COST
adds a leg behind a proxy with a known cost (the positive control).

Every option and every endpoint is checked before anything starts: a misspelt dataset, a
URL that does not answer, or a server serving another model fails in a second, not after
vLLM has loaded. Ctrl-C or SIGTERM stops the engine and keeps every run measured so far,
marked incomplete. docs/experiment.md explains blocks, designs, precision and controls.

examples:
  tee-llm-prof --model tiny-llama                         # embedded default (vLLM CPU)
  tee-llm-prof --model tiny-llama --num-requests 32 --repeats 4 --out /tmp/prof
  tee-llm-prof --model llama-3.1-70b                      # endpoints from models.yaml
  tee-llm-prof profile --model llama-3.1-8b --tee-on http://10.0.0.5:8000 \\
      --tee-off http://10.0.0.6:8000 --request-rates 1,4,16,inf --target-ci 1 --budget 1800
  tee-llm-prof profile --model llama-3.1-8b --leg base=http://10.0.0.4:8000 \\
      --leg tdx=http://10.0.0.5:8000 --leg cc=http://10.0.0.6:8000 --baseline base --chain base,tdx,cc
"""

add_arguments = add_profile_arguments


def run(args: argparse.Namespace) -> int:
    from profiler.experiment.profile_job import ProfileJob, run_job

    return run_job(ProfileJob.from_args(args))
