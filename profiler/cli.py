"""The CLI: parse arguments and hand over to a registered command (profiler/commands/).

``tee-llm-prof --model KEY`` is the main job, the same as ``tee-llm-prof profile --model KEY``.
Only the dispatched command's module is imported (``--version`` and ``--help`` import none).
Errors a user can fix print as one line (``error: …``) with exit code 2; Ctrl-C or SIGTERM
exits 130 after the command has saved what it measured.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

DEFAULT_COMMAND = "profile"
TOP_LEVEL = ("-h", "--help", "--version")

EPILOG = """\
examples:
  tee-llm-prof --model tiny-llama            embedded default: real vLLM (CPU) + a generated tiny model
  tee-llm-prof --model llama-3.1-70b         both legs from models.yaml (tee_on / tee_off endpoints)
  tee-llm-prof --model llama-3.1-8b --tee-on http://10.0.0.5:8000 --tee-off http://10.0.0.6:8000
  tee-llm-prof run --endpoint http://127.0.0.1:8000 --served-model tiny --out runs/
  tee-llm-prof compare runs/ON runs/OFF --out cmp/
  tee-llm-prof COMMAND --help                each command explains its options
"""


class Parser(argparse.ArgumentParser):
    """A bad option is one line (the usage is one ``--help`` away), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``selected``'s options are built (its module is imported)."""
    from profiler import __version__
    from profiler.commands import COMMANDS

    parser = Parser(
        prog="tee-llm-prof",
        description="Measure what a Trusted Execution Environment (TDX/SEV-SNP + GPU CC mode) "
        "costs LLM inference: TTFT, ITL/TPOT, E2E latency, tokens/s and requests/s, with 95% "
        "confidence intervals on every overhead.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tee-llm-prof {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, cmd in COMMANDS.items():
        chosen = selected in (name, *cmd.aliases)
        p = sub.add_parser(
            name,
            help=cmd.help.replace("%", "%%"),  # argparse %-formats help strings
            aliases=list(cmd.aliases),
            description=cmd.description() if chosen else cmd.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if chosen:
            cmd.add_arguments(p)
        p.set_defaults(_command=name)
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    """`tee-llm-prof --model X` means `tee-llm-prof profile --model X`."""
    if argv and argv[0].startswith("-") and argv[0] not in TOP_LEVEL:
        return [DEFAULT_COMMAND, *argv]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:  # before a command could take over (e.g. while modules load)
        print("interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The console script: run the command, then exit with its code. Once the command is over a
    late Ctrl-C or SIGTERM would only turn the exit into a kill, so they are ignored (only here:
    callers of :func:`main` in-process keep their own handlers, and so do their children)."""
    _stoppable()
    code = main()
    _quiet_exit()
    sys.exit(code)


def _stoppable() -> None:
    """Ctrl-C and cancel (SIGINT) must stop a run and save it, even when the parent started this
    process with SIGINT ignored or blocked (both survive exec: a Ray worker, a script's background
    job), where Python would leave it so."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # a blocked mask is inherited too (a thread of a Ray actor blocks them for its own C++ loop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def _quiet_exit() -> None:
    """The interruption is handled: more Ctrl-C or SIGTERM while exiting must not leave a traceback."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def _main(raw: list[str]) -> int:
    from profiler.errors import UserError

    args_list = _with_default_command(raw)
    selected = args_list[0] if args_list and not args_list[0].startswith("-") else None
    parser = build_parser(selected)
    args = parser.parse_args(args_list)
    args._argv = args_list  # what was typed: fleet commands re-run it on every node
    if not getattr(args, "_command", None):
        parser.print_help()
        return 0
    from profiler.commands import COMMANDS

    cmd = COMMANDS.get(args._command)
    try:
        return cmd.run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: what was measured is saved, marked incomplete", file=sys.stderr)
        return 130


if __name__ == "__main__":
    entry()
