"""A network namespace of the test's own, with only loopback up (DESIGN §10).

Ray picks the machine's network interface and probes an outside address to find its own IP, so
every test that starts Ray runs inside ``unshare --net --pid --fork --mount-proc`` with ``lo``
up: no packet can leave loopback, and every process started inside dies with the namespace's
first process (PID 1 of the new PID namespace), whatever happens to the test.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
from collections.abc import Sequence

#: Inside the namespace: loopback up, then the command (argv after ``_``) as the namespace's PID 1.
_UP_LO = 'ip link set lo up && exec "$@"'


def prefix() -> list[str]:
    """``unshare …`` for a new net + PID namespace (user namespace too when not root)."""
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return ["unshare", *user, "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
            "sh", "-c", _UP_LO, "_"]  # fmt: skip


@functools.cache
def unavailable() -> str | None:
    """Why a namespace cannot be made here (None: it can)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare (util-linux) and ip (iproute2)"
    probe = subprocess.run([*prefix(), "ip", "-o", "link"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"cannot create a network namespace: {probe.stderr.strip().splitlines()[-1:]}"
    links = [line.split(":")[1].strip() for line in probe.stdout.splitlines() if ":" in line]
    if links != ["lo"]:
        return f"the namespace is not loopback-only: {links}"
    return None


def interfaces() -> list[str]:
    """The network interfaces of this process's network namespace (inside ours: only ``lo``).
    Asked of the kernel, not read from /sys, which shows the namespace it was mounted in."""
    return sorted(name for _, name in socket.if_nameindex())


def require_loopback_only(what: str) -> None:
    """Refuse to go on where any interface but loopback is visible (DESIGN §10)."""
    seen = interfaces()
    if seen != ["lo"]:
        raise RuntimeError(f"{what} must run in a loopback-only network namespace; this one has {seen}")


def pid_namespace(argv: Sequence[str]) -> list[str]:
    """``argv`` in a PID namespace of its own (same network): SIGKILL of the returned process
    kills everything ``argv`` started (used to lose one Ray node at once, by the test's PID)."""
    return ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", *argv]
