"""Every command's --help renders (argparse %-formats help text) and bad input is one line."""

from __future__ import annotations

import pytest

from profiler.cli import build_parser, main
from profiler.commands import load_all

NAMES = load_all().names()


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
    build_parser()  # registers the commands, `profile` among them
    from profiler.cli import _with_default_command

    assert _with_default_command(["--model", "x"]) == ["profile", "--model", "x"]
    assert _with_default_command(["run", "--help"]) == ["run", "--help"]
