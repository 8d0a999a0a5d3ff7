"""Start and always stop a real `tee-llm-prof serve` subprocess on loopback, and talk to it.

    with service(data_dir, models_yaml) as svc:
        status, body = svc.call("POST", "/api/profiles", {"model": "gt"})
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.servers import ROOT, free_port, wait_http


@dataclass
class Service:
    base: str
    port: int
    token: str
    proc: subprocess.Popen[bytes]
    log: Path

    def raw(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = "default",
        timeout: float = 30.0,
    ) -> tuple[int, dict[str, str], bytes]:
        hdrs = dict(headers or {})
        if token == "default":
            token = self.token
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def call(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        status, headers, raw = self.raw(method, path, data, **kw)
        if headers.get("content-type", "").startswith("application/json"):
            return status, json.loads(raw)
        return status, raw.decode("utf-8", "replace")


@contextlib.contextmanager
def service(
    data: Path, models: Path, *args: str, token_file: Path | None = None
) -> Iterator[Service]:
    """Run `tee-llm-prof serve` on a free loopback port; stop it (SIGTERM, then SIGKILL)."""
    port = free_port()
    token_file = token_file or data / "token"
    data.mkdir(parents=True, exist_ok=True)
    log = data / f"serve-{port}.log"
    cmd = [
        sys.executable, "-m", "profiler.cli", "serve",
        "--host", "127.0.0.1", "--port", str(port),
        "--data", str(data), "--token-file", str(token_file), "--models", str(models), *args,
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz", timeout_s=60, proc=proc)
        yield Service(base, port, token_file.read_text().strip(), proc, log)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 60) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def kill_group(pid: int | None, marker: str) -> None:
    """Make sure a profile subprocess group a test left behind is gone. Only a process whose
    command line holds ``marker`` (the job id) is touched: pids get reused."""
    if not pid:
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if marker.encode() in cmdline.split(b"\0"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


__all__ = ["ROOT", "Service", "kill_group", "service", "stop"]
