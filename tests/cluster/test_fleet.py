"""Fleet commands on a real two-node Ray cluster: validate on every node, a suite on every node."""

from __future__ import annotations

import json
from pathlib import Path

from profiler.store import read_run
from tests.cluster.test_cluster_run import cli
from tests.support.ray_cluster import Cluster


def test_validate_runs_on_every_node_and_gathers_one_table(cluster: Cluster) -> None:
    res = cli(cluster, "validate", "--cluster", cluster.address, "--json", "--expect", "off")
    fleet = json.loads(res.stdout)
    assert fleet["kind"] == "fleet-validate" and fleet["cluster"] == cluster.address
    by_ip = {n["node"]["ip"]: n for n in fleet["nodes"]}
    assert set(by_ip) == {"127.0.0.1", "127.0.0.2"}
    head, gpu = by_ip["127.0.0.1"], by_ip["127.0.0.2"]
    # each node ran validate itself: the head has no NVIDIA driver, node 2 reads its recorded H100
    assert head["exit_code"] == 3 and head["verdict"] == "no GPU"
    assert gpu["node"]["gpus"] == 1 and gpu["exit_code"] == 0 and gpu["verdict"] == "holds"
    assert gpu["result"]["nvml_source"].startswith("replay:") and gpu["result"]["gpus"] == 1
    assert res.returncode == fleet["exit_code"] == 0, res.stderr  # every node with a GPU holds

    # expecting CC on, the GPU node does not hold: the fleet fails, and the table says where
    res = cli(cluster, "validate", "--cluster", cluster.address, "--expect", "on")
    assert res.returncode == 1, res.stderr
    assert "127.0.0.1" in res.stdout and "127.0.0.2" in res.stdout and "FAIL (off)" in res.stdout
    assert "does not hold" in res.stdout


def test_gpu_nodes_only_skips_the_head(cluster: Cluster) -> None:
    res = cli(
        cluster, "validate", "--cluster", cluster.address, "--gpu-nodes-only", "--json", "--expect", "off"
    )
    fleet = json.loads(res.stdout)
    assert [n["node"]["ip"] for n in fleet["nodes"]] == ["127.0.0.2"] and fleet["gpu_nodes_only"]
    assert res.returncode == 0


def test_a_cluster_that_does_not_answer_is_one_line(tmp_path: Path, cluster: Cluster) -> None:
    from tests.support.servers import free_port

    res = cli(cluster, "validate", "--cluster", f"127.0.0.1:{free_port()}", timeout=60)
    assert res.returncode != 0
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("error: cannot reach the Ray cluster at 127.0.0.1:"), res.stderr


def test_a_suite_on_every_node_writes_one_run_directory_per_node(cluster: Cluster, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    res = cli(cluster, "suite", "zk", "--threads", "1", "--min-time", "0.1", "--hashes", "sha256",
              "--label", "on", "--out", str(out), "--cluster", cluster.address)  # fmt: skip
    assert res.returncode == 0, res.stderr
    runs = [read_run(p) for p in sorted(out.iterdir())]
    assert len(runs) == 2 and all(r.complete for r in runs)
    nodes = sorted(r.manifest.cluster.node.ip for r in runs if r.manifest.cluster and r.manifest.cluster.node)
    assert nodes == ["127.0.0.1", "127.0.0.2"]
    for r in runs:
        assert r.manifest.kind == "zk" and r.manifest.label == "on"
        assert r.manifest.cluster is not None and r.manifest.cluster.address == cluster.address
        assert r.table("results") is not None and len(r.table("results")) > 0  # type: ignore[arg-type]
    # the GPU node only, into the same --out: the new directory sits beside the others
    res = cli(cluster, "suite", "zk", "--threads", "1", "--min-time", "0.1", "--hashes", "sha256", "--label",
              "on", "--out", str(out), "--cluster", cluster.address, "--gpu-nodes-only")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert len(list(out.iterdir())) == 3


def test_compare_shows_the_nodes_of_fleet_runs(cluster: Cluster, tmp_path: Path) -> None:
    zk = ["--threads", "1", "--min-time", "0.1", "--hashes", "sha256", "--repeats", "2"]
    for label in ("on", "off"):
        res = cli(cluster, "suite", "zk", *zk, "--label", label, "--out", str(tmp_path / label),
                  "--cluster", cluster.address)  # fmt: skip
        assert res.returncode == 0, res.stderr
    res = cli(cluster, "compare", str(tmp_path / "on"), str(tmp_path / "off"), "--out", str(tmp_path / "cmp"))
    assert res.returncode == 0, res.stderr
    cmp = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    nodes = cmp["nodes"]
    metrics = {m["metric"] for m in cmp["metrics"]}
    assert nodes and {n["metric"] for n in nodes} == metrics
    for metric in metrics:  # every metric: each leg's value on each of the two nodes
        got = sorted((n["leg"], n["node"]) for n in nodes if n["metric"] == metric)
        assert got == [("off", "127.0.0.1"), ("off", "127.0.0.2"), ("on", "127.0.0.1"), ("on", "127.0.0.2")]
    for n in nodes:
        assert n["n"] == 2 and n["value"] > 0 and n["vs_reference_pct"] is not None
    # the pooled reference lies between its own nodes: their deviations have opposite signs (or are 0)
    m0 = sorted(metrics)[0]
    devs = [n["vs_reference_pct"] for n in nodes if n["metric"] == m0 and n["leg"] == "off"]
    assert min(devs) <= 0 <= max(devs)
    report = (tmp_path / "cmp" / "report.md").read_text()
    assert "Per node" in report and "127.0.0.2" in report
