"""`serve --cluster`: each profile runs on a Ray node; progress, results and cancel as locally."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_service_e2e import (
    SLOW,
    cancel_once_running,
    final,
    models_yaml,
    profile_pid,
    wait_job,
)
from tests.support.ray_cluster import Cluster
from tests.support.servers import gt_server
from tests.support.service_proc import kill_group, service


def test_a_profile_runs_on_the_named_node_and_lands_in_the_service(cluster: Cluster, tmp_path: Path) -> None:
    with (
        gt_server("--ttft-ms", "40", "--itl-ms", "5") as on,
        gt_server("--ttft-ms", "20", "--itl-ms", "5") as off,
    ):
        models = models_yaml(tmp_path / "models.yaml", on, off)
        args = ("--cluster", cluster.address, "--cluster-node", "127.0.0.2")
        with service(tmp_path / "data", models, *args) as svc:
            status, data = svc.call(
                "POST", "/api/profiles", {"model": "gt", "num_requests": 12, "repeats": 2}
            )
            assert status == 202, data
            job_id = data["id"]
            try:
                job = wait_job(svc, job_id, final)
            finally:
                kill_group(profile_pid(tmp_path / "data", job_id), job_id)
            _, log = svc.call("GET", f"/api/profiles/{job_id}/log")
    assert job["status"] == "done", (job, str(log)[-3000:])
    assert "dispatched to node 127.0.0.2" in str(log)
    assert job["result"]["status"] == "complete" and len(job["result"]["runs"]) == 4
    prof = tmp_path / "data" / "profiles" / job_id
    assert (prof / "profile.json").exists() and len(list((prof / "runs").iterdir())) == 4
    assert list((prof / "compare").rglob("comparison.json"))  # the comparison came back too


def test_cancel_reaches_the_profile_on_the_node_and_keeps_what_it_measured(
    cluster: Cluster, tmp_path: Path
) -> None:
    with gt_server("--ttft-ms", "20", "--itl-ms", "20") as gt:
        models = models_yaml(tmp_path / "models.yaml", gt, gt, SLOW)
        with service(
            tmp_path / "data", models, "--cluster", cluster.address, "--cancel-grace-s", "60"
        ) as svc:
            job_id, job = cancel_once_running(svc, tmp_path / "data")
            _, log = svc.call("GET", f"/api/profiles/{job_id}/log")
    assert job["status"] == "cancelled", job
    assert job["result"]["status"] == "incomplete", str(log)[-3000:]
    (run,) = [r for r in job["result"]["runs"] if r["label"] == "on"]
    assert run["status"] == "incomplete"  # the remote profile saved it, and it was copied back
