"""Start and stop the injection proxy (:mod:`profiler.controls.proxy`) in front of a leg.

The proxy runs as its own process (its timed releases must not share an event loop or the GIL
with the load generator), in its own process group, on a free loopback port; it is stopped by
its pid when the ``with`` block ends, whatever ends it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from profiler.controls.proxy import Cost
from profiler.errors import UserError
from profiler.experiment.legs import Leg

READY_TIMEOUT_S = 15.0


@contextlib.contextmanager
def injected_leg(base: Leg, name: str, cost: Cost, log: Path | None = None) -> Iterator[Leg]:
    """A leg named ``name`` that reaches ``base`` through the proxy adding ``cost``."""
    cmd = [sys.executable, "-m", "profiler.controls.proxy", "--upstream", base.base_url,
           "--first-byte-ms", f"{cost.first_byte_ms:g}", "--per-event-us", f"{cost.per_event_us:g}"]
    if log is not None:
        cmd += ["--log", str(log)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        url = _wait_ready(proc)
        engine = {
            **dict(base.engine),
            "control": {
                "injected_into": base.name,
                "upstream": base.base_url,
                "first_byte_ms": cost.first_byte_ms,
                "per_event_us": cost.per_event_us,
                "proxy_pid": proc.pid,
            },
        }
        yield replace(base, name=name, base_url=url, engine=engine)  # the base's evidence: same host
    finally:
        stop(proc)


def _wait_ready(proc: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_S
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("listening on "):
            return line.split()[2]
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise UserError(f"the injection proxy did not start: {err.strip() or f'exit {proc.returncode}'}")
    raise UserError(f"the injection proxy did not start within {READY_TIMEOUT_S:g} s")


def stop(proc: subprocess.Popen[str], grace_s: float = 5.0) -> None:
    """SIGTERM to the proxy's process group (it is alone in it), SIGKILL after ``grace_s``."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
