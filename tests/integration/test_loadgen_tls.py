"""HTTPS endpoints: the handshake happens when connections open, never inside a request's TTFT."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen.runner import RunSpec, run
from loadgen.workload import DatasetArgs, build_prompts
from tests.support.servers import ROOT, free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI"),
]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.gt_server", "--port", str(port), "--ttft-ms", "10",
         "--itl-ms", "2", "--tls-cert", str(cert), "--tls-key", str(key)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"https://127.0.0.1:{port}"
    ctx = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=1, context=ctx):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url, cert
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_https_with_the_servers_ca(tls_server: tuple[str, Path]) -> None:
    url, cert = tls_server
    prompts = build_prompts("random", DatasetArgs(num=12, input_len=8, output_len=5))
    res = run(RunSpec(url, "gt-model", prompts, concurrency=3, tls_ca=str(cert)))
    f = res.frame
    assert f["ok"].all(), f["error"].tolist()
    # connections (TCP + TLS) were opened before the measured phase: no request carries a handshake
    assert not f["new_connection"].any() and len(res.connect_ms) == 3
    assert (f["ttft_ms"] >= 10).all()


def test_https_unverified_certificate_is_refused_unless_insecure(tls_server: tuple[str, Path]) -> None:
    url, _ = tls_server
    prompts = build_prompts("random", DatasetArgs(num=3, input_len=8, output_len=3))
    with pytest.raises(ConnectionError, match="cannot connect"):
        run(RunSpec(url, "gt-model", prompts, concurrency=1))  # system CAs do not know it
    res = run(RunSpec(url, "gt-model", prompts, concurrency=1, tls_verify=False))
    assert res.frame["ok"].all()
