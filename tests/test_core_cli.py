"""Every command's --help renders (argparse %-formats help text) and bad input is one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from profiler.cli import main
from profiler.commands import COMMANDS
from tests.support.servers import ROOT

NAMES = COMMANDS.names()


def test_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "95% confidence" in out and "%%" not in out
    for name in ("profile", "run", "compare", "report", "validate", "suite", "serve", "sweep", "plan"):
        assert name in out


@pytest.mark.parametrize("name", NAMES)
def test_each_command_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert "usage: tee-llm-prof" in capsys.readouterr().out


def test_default_command_is_profile() -> None:
    from profiler.cli import _with_default_command

    assert _with_default_command(["--model", "x"]) == ["profile", "--model", "x"]
    assert _with_default_command(["run", "--help"]) == ["run", "--help"]


def test_version_and_help_load_no_command_module() -> None:
    # --version and --help must stay fast: no numerics, plotting, HTTP or command module loaded
    probe = (
        "import sys\n"
        "from profiler.cli import main\n"
        "try:\n    main([ARG])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'pandas', 'scipy', 'matplotlib', 'aiohttp', 'pydantic', 'rich')"
        " if m in sys.modules]\n"
        "cmds = [m for m in sys.modules if m.startswith('profiler.commands.')]\n"
        "print(heavy, cmds)\n"
    )
    for arg in ("--version", "--help"):
        out = subprocess.run([sys.executable, "-c", probe.replace("ARG", repr(arg))], cwd=ROOT,
                             capture_output=True, text=True, timeout=60).stdout
        assert out.strip().endswith("[] []"), (arg, out)


def test_a_command_loads_only_its_own_module() -> None:
    probe = (
        "import sys\nfrom profiler.cli import main\n"
        "try:\n    main(['models', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('profiler.commands.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "['profiler.commands.models']", out.stdout


def test_a_dataset_typo_fails_before_any_engine_starts(tmp_path: Path) -> None:
    """The embedded model would launch vLLM (~45 s); a misspelt dataset must be refused first."""
    res = subprocess.run(
        [sys.executable, "-m", "profiler.cli", "--model", "tiny-llama", "--dataset", "randm", "--out",
         str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 2
    assert res.stderr.strip() == (
        "error: --dataset: unknown dataset 'randm'; known: lengths, prefix, random, sharegpt"
    )
    assert not (tmp_path / "out").exists()  # no profile directory, no engine log: nothing started


def test_main_in_process_leaves_the_callers_signal_handlers(tmp_path: Path) -> None:
    """Only the console script ignores late signals at exit; a caller of main() (a test, the
    service) keeps its handlers, and so do the processes it starts afterwards."""
    import signal

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(SystemExit):
        main(["--version"])
    assert main(["compare", str(tmp_path / "nope"), str(tmp_path / "nope"), "--out", str(tmp_path)]) != 0
    assert {sig: signal.getsignal(sig) for sig in before} == before
