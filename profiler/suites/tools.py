"""External tools the suites drive: find them, or say which Debian package provides them."""

from __future__ import annotations

import shutil
import subprocess

from profiler.errors import UserError


def require_tool(names: tuple[str, ...], debian: str, purpose: str) -> str:
    """Path of the first of ``names`` on PATH, else a UserError naming the Debian package."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    wanted = " or ".join(f"`{n}`" for n in names)
    raise UserError(
        f"{purpose} needs {wanted}, which is not installed; "
        f"install it with: apt-get install -y {debian}"
    )


def run_tool(cmd: list[str], *, timeout_s: float, what: str) -> str:
    """Run a tool to completion and return its stdout; a failure raises RuntimeError with stderr."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what} did not finish within {timeout_s:.0f} s: {' '.join(cmd)}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{what} exited with {proc.returncode}: {' | '.join(tail)}")
    return proc.stdout
