"""Sub-commands of ``tee-llm-prof``: one module each, registered by name in :data:`COMMANDS`.

A module in this package adds itself with ``COMMANDS.add(name, Command(name, ...))`` at
import time; the
CLI imports every module here (``load_all``), so adding a command never edits the CLI.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from catalog.registry import Registry


@dataclass(frozen=True)
class Command:
    name: str
    help: str  # one line, shown in `tee-llm-prof --help`
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""  # shown in `tee-llm-prof NAME --help`; teach, with an example
    aliases: tuple[str, ...] = ()


COMMANDS: Registry[Command] = Registry("command")


def load_all() -> Registry[Command]:
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return COMMANDS
