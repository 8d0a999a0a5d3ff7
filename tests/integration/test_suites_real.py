"""The suites for real on this machine, small sizes: 7-Zip, fio, loopback HTTP(S), hashing, a prover
stand-in, the llm suite against the ground-truth SSE server, and a comparison of real runs.

Tolerances are stated where timing is asserted; the machine is shared, so they are generous.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from profiler.store import is_run_dir, read_json, read_run
from profiler.suites.compare import compare_suite_dirs
from tests.support.servers import ROOT, free_port, gt_server, server_process

pytestmark = pytest.mark.integration


def cli(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "profiler.cli", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


def results(out: Path) -> pd.DataFrame:
    (run_dir,) = [p for p in out.iterdir() if is_run_dir(p)]
    run = read_run(run_dir)
    assert run.complete, run.manifest
    frame = run.table("results")
    assert frame is not None
    return frame


def value(frame: pd.DataFrame, metric: str, case: str, repeat: int = 0) -> float:
    sel = frame[(frame.metric == metric) & (frame.case == case) & (frame.repeat == repeat)]
    assert len(sel) == 1, (metric, case, frame[["metric", "case"]].drop_duplicates().to_string())
    return float(sel.value.iloc[0])


# --------------------------------------------------------------------------- cpu


@pytest.mark.slow
def test_cpu_suite_runs_7zip(tmp_path: Path) -> None:
    if not (shutil.which("7zz") or shutil.which("7z")):
        pytest.skip("7-Zip not installed (apt-get install -y 7zip)")
    # One pass at a 256 KiB dictionary: ~10 s per thread count here.
    r = cli("suite", "cpu", "--threads", "1,2", "--passes", "1", "--dict-log2", "18",
            "--label", "on", "--out", str(tmp_path), timeout=300)
    assert r.returncode == 0, r.stderr
    f = results(tmp_path)
    r1, r2 = value(f, "total_rating", "threads=1"), value(f, "total_rating", "threads=2")
    assert r1 > 0 and r2 > 0
    assert value(f, "scaling_efficiency", "threads=1") == pytest.approx(100.0)
    assert value(f, "scaling_efficiency", "threads=2") == pytest.approx(100 * r2 / (2 * r1))
    assert value(f, "per_core_rating", "threads=2") == pytest.approx(r2 / 2)
    assert value(f, "compress_speed", "threads=1") > 0 and value(f, "decompress_speed", "threads=1") > 0


# --------------------------------------------------------------------------- io


def test_io_suite_runs_fio_and_cleans_up(tmp_path: Path) -> None:
    if not shutil.which("fio"):
        pytest.skip("fio not installed (apt-get install -y fio)")
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    r = cli("suite", "io", "--dir", str(disk), "--size", "8M", "--runtime", "1",
            "--jobs", "randread-iops,randread-lat,mixed-75-25", "--label", "off", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert list(disk.iterdir()) == []  # the fio file and its sub-directory are gone
    f = results(out)
    assert value(f, "iops", "job=randread-iops read") > 0
    assert value(f, "lat_avg", "job=randread-lat read") > 0
    read_iops = value(f, "iops", "job=mixed-75-25 read")
    write_iops = value(f, "iops", "job=mixed-75-25 write")
    assert 2.0 < read_iops / write_iops < 4.5  # 75/25 mix → ~3:1


def test_io_suite_cleans_up_after_a_failure(tmp_path: Path) -> None:
    if not shutil.which("fio"):
        pytest.skip("fio not installed")
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    r = cli("suite", "io", "--dir", str(disk), "--size", "8M", "--runtime", "1", "--jobs", "randread-iops",
            "--ioengine", "no-such-engine", "--label", "off", "--out", str(out))
    assert r.returncode == 2 and "error: suite io stopped" in r.stderr and r.stderr.count("\n") == 1
    assert list(disk.iterdir()) == []
    (run_dir,) = list(out.iterdir())
    assert read_run(run_dir).manifest.status == "incomplete"


# --------------------------------------------------------------------------- net


def _make_cert(d: Path) -> tuple[Path, Path]:
    cert, key = d / "cert.pem", d / "key.pem"
    if shutil.which("openssl"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                        "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        return cert, key
    pytest.skip("no openssl CLI to generate a test certificate")


@contextlib.contextmanager
def http_server(*args: str, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    extra = ["--certfile", str(tls[0]), "--keyfile", str(tls[1])] if tls else []
    with server_process(
        "tests.support.suites_http_server", *args, *extra,
        scheme="https" if tls else "http", ca=tls[0] if tls else None,
    ) as base:
        yield base


def _stats(base: str, ca: Path | None = None) -> dict[str, int]:
    import ssl

    ctx = ssl.create_default_context(cafile=str(ca)) if ca else None
    with urllib.request.urlopen(base + "/_stats", timeout=5, context=ctx) as r:
        data: dict[str, int] = json.loads(r.read())
        return data


def test_net_suite_http_and_https_against_ground_truth(tmp_path: Path) -> None:
    cert, key = _make_cert(tmp_path)
    # The servers answer after 20 ms; every request opens its own connection (TLS handshake each).
    with http_server("--delay-ms", "20") as http, http_server("--delay-ms", "20", tls=(cert, key)) as https:
        r = cli("suite", "net", "--url", http + "/", "--url", https + "/", "--ca-file", str(cert),
                "--concurrency", "2,4", "--requests", "40", "--duration", "30", "--new-connections",
                "--label", "on", "--out", str(tmp_path / "out"))
        assert r.returncode == 0, r.stderr
        s_http, s_https = _stats(http), _stats(https, cert)
    f = results(tmp_path / "out")
    for tag in ("http", "https"):
        for c in (2, 4):
            case = f"target={tag} concurrency={c}"
            assert value(f, "requests", case) == 40 and value(f, "error_rate", case) == 0.0
            avg = value(f, "latency_avg", case)
            # ground truth 20 ms server delay; allow +250 ms for a loaded 2-core host and TLS
            assert 20.0 <= avg < 270.0, (case, avg)
            assert avg <= value(f, "latency_p99", case) <= value(f, "latency_max", case)
            assert value(f, "connect_max", case) > 0
            # closed loop: QPS cannot exceed concurrency / server delay
            assert 0 < value(f, "qps", case) <= c / 0.020 * 1.05
    # the servers saw exactly what the client says it sent, on one connection per request
    assert s_http["requests"] == 80 and s_https["requests"] == 80
    assert s_http["connections"] == 80 and s_https["connections"] == 80
    for c in (2, 4):
        share = value(f, "tls_share", f"concurrency={c}")
        assert -100.0 < share < 100.0


def test_net_suite_counts_errors_exactly(tmp_path: Path) -> None:
    with http_server("--fail-every", "4") as url:
        r = cli("suite", "net", "--url", url + "/", "--concurrency", "3", "--requests", "40",
                "--label", "off", "--out", str(tmp_path))
        assert r.returncode == 0, r.stderr
    f = results(tmp_path)
    assert value(f, "error_rate", "target=http concurrency=3") == pytest.approx(25.0)
    assert value(f, "requests", "target=http concurrency=3") == 40


def test_net_suite_unreachable_gateway_is_all_errors(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    r = cli("suite", "net", "--url", f"http://127.0.0.1:{port}/", "--concurrency", "2", "--requests", "6",
            "--label", "on", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert value(results(tmp_path), "error_rate", "target=http concurrency=2") == 100.0


# --------------------------------------------------------------------------- zk


def test_zk_suite_hashes_and_times_a_prover(tmp_path: Path) -> None:
    proof = tmp_path / "proof.bin"
    prover = (f"{sys.executable} -c \"import pathlib; pathlib.Path(r'{proof}').write_bytes(b'p' * 777); "
              "print('proving took 12.5ms')\"")
    r = cli("suite", "zk", "--threads", "2", "--buffer-mb", "8", "--min-time", "0.1",
            "--prover-cmd", prover, "--proof-time-regex", r"proving took ([\d.]+)(ms|s)",
            "--proof-file", str(proof), "--cycles", "1e6", "--label", "on", "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    f = results(tmp_path / "out")
    for n in (1, 2):
        case = f"threads={n}"
        base = value(f, "memory_copy", case)
        for h in ("sha256", "keccak"):
            rate = value(f, f"{h}_throughput", case)
            assert rate > 0 and base > 0
            assert value(f, f"{h}_memory_fraction", case) == pytest.approx(100 * rate / base)
    assert value(f, "prover_proof_time", "prover") == pytest.approx(0.0125)
    assert value(f, "proof_size", "prover") == 777
    assert value(f, "prover_speed", "prover") == pytest.approx(1e6 / 0.0125)
    assert value(f, "prover_total_time", "prover") > 0


def test_zk_suite_bad_regex_output_is_one_line_and_partial(tmp_path: Path) -> None:
    r = cli("suite", "zk", "--skip-hash", "--prover-cmd", f"{sys.executable} -c \"print('done')\"",
            "--proof-time-regex", r"took ([\d.]+)", "--label", "on", "--out", str(tmp_path))
    assert r.returncode == 2 and r.stderr.startswith("error: suite zk stopped")
    (run_dir,) = list(tmp_path.iterdir())
    assert read_run(run_dir).manifest.status == "incomplete"


# --------------------------------------------------------------------------- compare real runs


def test_compare_real_zk_runs_with_repetitions(tmp_path: Path) -> None:
    for label in ("on", "off"):
        r = cli("suite", "zk", "--threads", "1", "--buffer-mb", "4", "--min-time", "0.05",
                "--hashes", "sha256", "--repeats", "3", "--label", label, "--out", str(tmp_path / label))
        assert r.returncode == 0, r.stderr
    result = compare_suite_dirs(tmp_path / "on", tmp_path / "off", tmp_path / "cmp").model_dump()
    rows = {m["family"]: m for m in result["metrics"]}
    assert set(rows) == {"memory_copy", "sha256_throughput", "sha256_memory_fraction"}
    for m in rows.values():
        assert (m["n_on"], m["n_off"]) == (3, 3)
        assert m["ci_low"] is not None and m["ci_low"] <= m["overhead_pct"] <= m["ci_high"]
    assert read_json(tmp_path / "cmp" / "comparison.json")["subject"] == "zk"


# --------------------------------------------------------------------------- llm (gpu: test_gpu_suite.py)


def test_llm_suite_is_the_profile(tmp_path: Path) -> None:
    with gt_server("--ttft-ms", "5", "--itl-ms", "1") as url:
        r = cli("suite", "llm", "--model", "tiny-llama", "--tee-on", url, "--tee-off", url,
                "--num-requests", "8", "--repeats", "1", "--input-len", "16", "--output-len", "8",
                "--request-rates", "inf", "--no-report", "--allow-model-mismatch", "--out", str(tmp_path),
                timeout=180)
    assert r.returncode == 0, r.stderr
    (profile,) = list(tmp_path.iterdir())
    data = read_json(profile / "profile.json")
    assert data["kind"] == "profile" and data["aa"] is True
    assert len(data["load_points"][0]["runs"]["on"]) == 1


def test_net_suite_open_loop_follows_the_schedule(tmp_path: Path) -> None:
    from loadgen.plain import PlainSpec, run_plain
    from loadgen.schedule import offsets_ns

    with http_server("--delay-ms", "5") as url:
        res = run_plain(PlainSpec(url=url + "/", concurrency=4, num_requests=30, duration_s=30,
                                  rate=100.0, seed=3))
        r = cli("suite", "net", "--url", url + "/", "--concurrency", "4", "--requests", "20",
                "--rate", "50", "--label", "on", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    f = res.frame
    assert len(f) == 30 and (f.status == 200).all()
    # scheduled stamps are exactly the seeded offsets from loadgen.schedule, relative to the first
    want = offsets_ns(30, 100.0, seed=3)
    got = (f.scheduled_ns - f.scheduled_ns.iloc[0] + want[0]).tolist()
    assert got == want
    # requests leave on time: lag under 50 ms on a loaded 2-core host (typically < 1 ms)
    assert ((f.sent_ns - f.scheduled_ns) / 1e6).max() < 50
    frame = results(tmp_path)
    assert value(frame, "requests", "target=http concurrency=4 rate=50") == 20
    assert value(frame, "client_lag_max", "target=http concurrency=4 rate=50") >= 0


def test_keep_alive_opens_one_connection_per_worker() -> None:
    from loadgen.plain import PlainSpec, plain_summary, run_plain

    with http_server("--delay-ms", "2") as url:
        res = run_plain(PlainSpec(url=url + "/", concurrency=3, num_requests=30, duration_s=30))
        server = _stats(url)
    s = plain_summary(res.frame)
    assert s["completed"] == 30 and server["requests"] == 30
    # the client's connect stamps agree with the connections the server saw
    assert s["connections_opened"] == server["connections"] == 3
