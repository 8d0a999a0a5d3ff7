"""Sub-commands of ``tee-llm-prof``: one module each, registered by name in :data:`COMMANDS`.

The registry holds what ``--help`` needs (name, one-line help, module); a command's module is
imported only when that command is dispatched, so ``tee-llm-prof --version`` and ``--help``
load no numerics, plotting or HTTP libraries (DESIGN §9 "lazy start"). A command module
provides ``DESCRIPTION`` (its ``--help`` text: teach, with an example), ``add_arguments(parser)``
and ``run(args) -> exit code``. Adding a command is its module plus one line here.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import cast

from catalog.registry import Registry


@dataclass(frozen=True)
class Command:
    name: str
    help: str  # one line, shown in `tee-llm-prof --help`
    module: str  # imported on dispatch
    aliases: tuple[str, ...] = ()

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        cast(Callable[[argparse.ArgumentParser], None], self.load().add_arguments)(parser)

    def description(self) -> str:
        return str(getattr(self.load(), "DESCRIPTION", "") or self.help)

    def run(self, args: argparse.Namespace) -> int:
        return int(cast(Callable[[argparse.Namespace], int], self.load().run)(args) or 0)


COMMANDS: Registry[Command] = Registry("command")
for _cmd in (
    Command(
        "profile",
        "the main job: every leg × load points × blocks → runs, overheads with CIs, reports",
        "profiler.commands.profile",
    ),
    Command(
        "run", "run one workload against one endpoint and write a run directory", "profiler.commands.run"
    ),
    Command(
        "compare", "TEE overhead with 95% CIs between TEE-on and TEE-off runs", "profiler.commands.compare"
    ),
    Command(
        "report",
        "console, Markdown, HTML and PNG reports of runs, comparisons and profiles",
        "profiler.commands.report",
    ),
    Command(
        "import",
        "import vLLM benchmark JSON results (v0.5.x or vllm bench serve) as run directories",
        "profiler.commands.import_",
    ),
    Command(
        "sweep",
        "capacity sweep: throughput vs latency per leg until saturation, SLO-bound max load",
        "profiler.commands.sweep",
    ),
    Command(
        "plan",
        "GPUs, cost and the TEE's capacity overhead for a target load, from a sweep",
        "profiler.commands.plan",
    ),
    Command(
        "inject",
        "the positive control: a loopback proxy adding a known cost to an endpoint",
        "profiler.commands.inject",
    ),
    Command(
        "suite", "run a secondary suite (cpu, io, net, zk, gpu, llm) for one leg", "profiler.commands.suite"
    ),
    Command("models", "list the models of models.yaml (keys for --model)", "profiler.commands.models"),
    Command("env", "print the environment fingerprint (host, GPUs, CC, TEE)", "profiler.commands.env"),
    Command(
        "validate", "check that GPU CC mode / the TEE is really on (or off)", "profiler.commands.validate"
    ),
    Command(
        "serve",
        "run as an authenticated HTTP service (API + dashboard) over profiles",
        "profiler.commands.serve",
    ),
):
    COMMANDS.add(_cmd.name, _cmd)
