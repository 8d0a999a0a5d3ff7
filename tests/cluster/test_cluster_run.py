"""`run --cluster`: two load workers on two Ray nodes against the ground-truth server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from profiler.store import read_run
from tests.support.ray_cluster import Cluster
from tests.support.servers import ROOT, gt_log, gt_server

MS = 1e6
#: The single-process accuracy test's tolerances (tests/integration/test_loadgen_accuracy.py).
STAMP_MEDIAN_MS = 5.0
SEND_MEDIAN_MS = 10.0


def cli(cluster: Cluster, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "profiler.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**cluster.env(), "COLUMNS": "250"})  # fmt: skip


def only_run(out: Path) -> Path:
    (run,) = [p for p in out.iterdir() if (p / "manifest.json").exists()]
    return run


def test_two_workers_on_two_nodes_measure_like_one_process(cluster: Cluster, tmp_path: Path) -> None:
    with gt_server("--ttft-ms", "30", "--itl-ms", "10") as url:
        res = cli(cluster, "run", "--endpoint", url, "--served-model", "gt-model", "--label", "off",
                  "--input-len", "16", "--output-len", "12", "--num-requests", "48", "--concurrency", "16",
                  "--cluster", cluster.address, "--workers", "2", "--placement", "spread", "--no-progress",
                  "--out", str(tmp_path))  # fmt: skip
        log = gt_log(url)
    assert res.returncode == 0, res.stderr
    run = read_run(only_run(tmp_path))
    assert run.complete, run.manifest.reason
    req = run.requests
    assert len(req) == 48 and req["ok"].all()
    # which node and worker sent each request; spread puts one worker on each node
    assert set(req["worker"]) == {0, 1}
    assert {str(n) for n in req["node"]} == {"127.0.0.1", "127.0.0.2"}
    assert req.groupby("worker")["node"].nunique().max() == 1
    info = run.manifest.cluster
    assert info is not None and info.address == cluster.address and info.placement == "spread"
    assert sorted(w.node.ip for w in info.workers) == ["127.0.0.1", "127.0.0.2"]
    for w in info.workers:  # one machine: the measured offset is ~0 within its own bound
        assert w.clock_samples > 0 and 0 < w.clock_bound_ns < 50 * MS
        assert abs(w.clock_offset_ns) <= w.clock_bound_ns + 1 * MS
        assert w.client_health is not None and "client_bound" in w.client_health
    # accuracy against the server's own log (one CLOCK_MONOTONIC on this machine)
    by_id = {r["request_id"]: r for r in log["requests"]}
    stamp, send = [], []
    for _, row in req.iterrows():
        srv = by_id[row["request_id"]]
        ev = srv["write_ns"]
        assert row["n_events"] == len(ev) == 12
        stamp.append((row["first_ns"] - ev[0]) / MS)
        send.append((srv["recv_ns"] - row["sent_ns"]) / MS)
        # per-request metrics are differences of one worker's stamps: exact, whatever the shift
        assert abs(row["ttft_ms"] - (row["first_ns"] - row["sent_ns"]) / MS) < 1e-3
    bound_ms = max(w.clock_bound_ns for w in info.workers) / MS
    assert abs(np.median(stamp)) < STAMP_MEDIAN_MS + bound_ms
    assert abs(np.median(send)) < SEND_MEDIAN_MS + bound_ms
    assert np.median(req["ttft_ms"]) < 30 + SEND_MEDIAN_MS + STAMP_MEDIAN_MS


def _lose_node_mid_run(cluster: Cluster, out: Path, placement: str) -> str:
    """A run of 40 requests by 2 workers placed so; the second node is killed mid-run. Its stderr."""
    with gt_server("--ttft-ms", "20", "--itl-ms", "40") as url:
        proc = subprocess.Popen(
            [sys.executable, "-m", "profiler.cli", "run", "--endpoint", url, "--served-model", "gt-model",
             "--label", "off", "--input-len", "8", "--output-len", "25", "--num-requests", "40",
             "--concurrency", "8", "--cluster", cluster.address, "--workers", "2", "--placement",
             placement, "--no-progress", "--out", str(out)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster.env(),
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while len(gt_log(url)["requests"]) < 16:  # warm-up done, the measured run under way
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.1)
            cluster.nodes[1].kill()  # the second node, with its workers and their load processes
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return err


def test_a_node_lost_mid_run_is_recorded_and_nothing_is_lost(own_cluster: Cluster, tmp_path: Path) -> None:
    err = _lose_node_mid_run(own_cluster, tmp_path, "node=127.0.0.1,127.0.0.2")
    run = read_run(only_run(tmp_path))
    assert run.manifest.status == "incomplete", err
    reason = run.manifest.reason or ""
    assert "worker 1 on node 127.0.0.2 lost mid-run" in reason, reason
    req = run.requests
    assert len(req) == 40  # every request of the schedule is in the table: none silently dropped
    lost = req[req["worker"] == 1]
    kept = req[req["worker"] == 0]
    assert len(lost) == 20 and not lost["ok"].any()
    assert lost["error"].str.contains("lost mid-run").all()
    assert len(kept) == 20 and kept["ok"].all()  # the other worker's records all came back
    (w1,) = [w for w in run.manifest.cluster.workers if w.worker == 1]  # type: ignore[union-attr]
    assert w1.lost and w1.node.ip == "127.0.0.2"
    assert "lost" in err or "incomplete" in err, err


def test_every_worker_lost_is_a_saved_failed_run_that_names_them_not_the_endpoint(
    own_cluster: Cluster, tmp_path: Path
) -> None:
    err = _lose_node_mid_run(own_cluster, tmp_path, "node=127.0.0.2")
    assert "cannot reach" not in err, err  # the endpoint was fine: the workers' node was lost
    run = read_run(only_run(tmp_path))
    assert run.manifest.status == "failed", err  # nothing measured (DESIGN: failed, not incomplete)
    assert "worker 0 on node 127.0.0.2 lost mid-run" in (run.manifest.reason or "")
    req = run.requests
    assert len(req) == 40 and not req["ok"].any() and req["error"].str.contains("lost mid-run").all()


def test_ctrl_c_stops_every_worker_and_keeps_what_they_measured(cluster: Cluster, tmp_path: Path) -> None:
    with gt_server("--ttft-ms", "20", "--itl-ms", "40") as url:
        proc = subprocess.Popen(
            [sys.executable, "-m", "profiler.cli", "run", "--endpoint", url, "--served-model", "gt-model",
             "--label", "off", "--input-len", "8", "--output-len", "25", "--num-requests", "200",
             "--concurrency", "8", "--cluster", cluster.address, "--workers", "2", "--no-progress",
             "--out", str(tmp_path)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster.env(),
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while len(gt_log(url)["requests"]) < 24:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.1)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            took = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, err
    assert took < 20, took  # the workers stopped: not the ~25 s the rest of the schedule takes
    run = read_run(only_run(tmp_path))
    assert run.manifest.status == "incomplete" and (run.manifest.reason or "").startswith("interrupted"), err
    req = run.requests
    assert 0 < len(req) < 200  # as a local run: what was sent (the rest never was)
    for w in (0, 1):  # both workers' records came back, on their own nodes
        mine = req[req["worker"] == w]
        assert int(mine["ok"].sum()) > 0 and mine["node"].nunique() == 1


def test_profile_and_sweep_place_their_workers_on_the_cluster(cluster: Cluster, tmp_path: Path) -> None:
    """The engine's other drivers take the same --cluster: every run of a profile (and of a sweep)
    is a distributed run, and the comparison carries the client nodes."""
    from tests.integration.test_reliability_cli import models_yaml

    with (
        gt_server("--ttft-ms", "30", "--itl-ms", "5") as on,
        gt_server("--ttft-ms", "20", "--itl-ms", "5") as off,
    ):
        models = models_yaml(tmp_path, on, off, num_requests=16)
        res = cli(cluster, "profile", "--model", "gt", "--models", str(models), "--out",
                  str(tmp_path / "p"), "--profile-id", "p1", "--cluster", cluster.address, "--workers", "2",
                  "--no-report")  # fmt: skip
        assert res.returncode == 0, res.stderr
        runs = sorted((tmp_path / "p" / "p1" / "runs").iterdir())
        assert len(runs) == 4
        for path in runs:
            run = read_run(path)
            info = run.manifest.cluster
            assert run.complete and info is not None and len(info.workers) == 2
            assert {str(n) for n in run.requests["node"]} == {"127.0.0.1", "127.0.0.2"}
        (cmp_file,) = (tmp_path / "p" / "p1" / "compare").rglob("comparison.json")
        cmp = json.loads(cmp_file.read_text())
        assert {n["node"] for n in cmp["nodes"]} == {"127.0.0.1", "127.0.0.2"}  # client nodes as a dimension
        ttft = next(m for m in cmp["metrics"] if m["metric"] == "mean_ttft_ms")
        assert ttft["overhead_pct"] > 20  # 30 ms against 20 ms of server TTFT

        res = cli(cluster, "sweep", "--model", "gt", "--models", str(models), "--concurrency", "2,4",
                  "--repeats", "1", "--out", str(tmp_path / "s"), "--sweep-id", "s1", "--cluster",
                  cluster.address, "--workers", "2", "--no-progress")  # fmt: skip
        assert res.returncode == 0, res.stderr
        swept = [p for p in (tmp_path / "s" / "s1").rglob("manifest.json")]
        assert swept and all(read_run(p.parent).manifest.cluster is not None for p in swept)
