"""Start and always stop loopback servers for tests (the ground-truth SSE server and others)."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Loopback only: never route test traffic through a proxy from the environment (http_proxy).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout_s: float = 5.0, ca: Path | None = None) -> bytes:
    """GET a loopback URL (HTTPS verified against ``ca`` when given), bypassing any proxy."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if ca is not None:
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(ca))))
    opener = urllib.request.build_opener(*handlers) if ca is not None else _OPENER
    with opener.open(url, timeout=timeout_s) as r:
        body: bytes = r.read()
        return body


def wait_http(
    url: str,
    timeout_s: float = 20.0,
    proc: subprocess.Popen[bytes] | None = None,
    ca: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            http_get(url, timeout_s=1, ca=ca)
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s")


@contextlib.contextmanager
def server_process(
    module: str, *args: str, scheme: str = "http", ca: Path | None = None, health: str = "/health"
) -> Iterator[str]:
    """Run ``python -m module --port P *args`` on a free loopback port; yield its base URL; stop it."""
    port = free_port()
    cmd = [sys.executable, "-m", module, "--port", str(port), *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"{scheme}://127.0.0.1:{port}"
    try:
        wait_http(base + health, proc=proc, ca=ca)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def gt_server(*args: str, cpu: int | None = None) -> Iterator[str]:
    """The ground-truth SSE server (tests/support/gt_server.py) on a free loopback port."""
    extra = ["--cpu", str(cpu)] if cpu is not None else []
    with server_process("tests.support.gt_server", *args, *extra) as base:
        yield base


def gt_log(base: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(http_get(base + "/_gt/log", timeout_s=10))
    return data


def gt_tpot_ms(base: str) -> float:
    """What the server really did (a loaded host stretches a configured ITL a little): the
    mean over its requests of each request's mean gap between streamed writes, in ms."""
    per_request = []
    for r in gt_log(base)["requests"]:
        w = r["write_ns"]
        if len(w) > 1:
            per_request.append((w[-1] - w[0]) / (len(w) - 1) / 1e6)
    return sum(per_request) / len(per_request)
