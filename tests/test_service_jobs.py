"""The service's SQLite job queue: order, transitions, cancel, recovery, migrations (real file)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from profiler.service import jobs as J


def test_fifo_claims_and_final_states(tmp_path: Path) -> None:
    store = J.JobStore(tmp_path / "jobs.sqlite")
    a = store.submit("m1", {"model": "m1"})
    b = store.submit("m2", {"model": "m2", "num_requests": 5})
    assert (a.status, b.status) == (J.QUEUED, J.QUEUED)
    first = store.claim_next()
    assert first is not None and first.id == a.id and first.status == J.RUNNING
    assert first.started is not None
    store.finish(a.id, J.DONE, exit_code=0)
    second = store.claim_next()
    assert second is not None and second.id == b.id and second.request["num_requests"] == 5
    store.finish(b.id, J.FAILED, exit_code=2, reason="boom")
    assert store.claim_next() is None
    got = store.get(b.id)
    assert got is not None and got.final and got.reason == "boom" and got.exit_code == 2
    assert store.counts() == {
        J.QUEUED: 0, J.RUNNING: 0, J.DONE: 1, J.FAILED: 1, J.CANCELLED: 0, J.INTERRUPTED: 0
    }  # fmt: skip
    # newest first
    assert [j.id for j in store.list_jobs()] == [b.id, a.id]
    assert [j.id for j in store.list_jobs(J.DONE)] == [a.id]


def test_finish_does_not_overwrite_a_final_state(tmp_path: Path) -> None:
    store = J.JobStore(tmp_path / "jobs.sqlite")
    job = store.submit("m", {})
    assert store.request_cancel(job.id) == J.CANCELLED
    store.finish(job.id, J.DONE, exit_code=0)  # a late runner report must not resurrect it
    got = store.get(job.id)
    assert got is not None and got.status == J.CANCELLED
    with pytest.raises(ValueError):
        store.finish(job.id, J.RUNNING)


def test_cancel_queued_vs_running(tmp_path: Path) -> None:
    store = J.JobStore(tmp_path / "jobs.sqlite")
    run = store.submit("m", {})
    wait = store.submit("m", {})
    assert store.claim_next() is not None
    assert store.request_cancel(run.id) == J.RUNNING  # the runner does the interrupting
    running = store.get(run.id)
    assert running is not None and running.cancel_requested and running.status == J.RUNNING
    assert store.request_cancel(wait.id) == J.CANCELLED
    assert store.claim_next() is None  # a cancelled job never starts
    assert store.request_cancel("nope") is None


def test_state_survives_reopen_and_running_becomes_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite"
    store = J.JobStore(db)
    a = store.submit("m", {})
    b = store.submit("m", {})
    store.claim_next()
    store.set_pid(a.id, 424242)
    store.set_progress(a.id, {"runs_finished": 1})
    store.close()

    again = J.JobStore(db)
    orphans = again.recover()
    assert [(o.id, o.pid) for o in orphans] == [(a.id, 424242)]
    got_a, got_b = again.get(a.id), again.get(b.id)
    assert got_a is not None and got_a.status == J.INTERRUPTED and "kept" in (got_a.reason or "")
    assert got_a.progress == {"runs_finished": 1}
    assert got_b is not None and got_b.status == J.QUEUED  # still waits its turn
    assert again.recover() == []


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite"
    store = J.JobStore(db)
    assert store.schema_version == len(J.MIGRATIONS)
    store.close()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.execute(f"PRAGMA user_version = {len(J.MIGRATIONS) + 1}")
    con.commit()
    con.close()
    with pytest.raises(RuntimeError, match="newer than this tool"):
        J.JobStore(db)


def test_job_ids_are_unique_and_public_view_hides_pid(tmp_path: Path) -> None:
    store = J.JobStore(tmp_path / "jobs.sqlite")
    ids = {store.submit("m", {}).id for _ in range(50)}
    assert len(ids) == 50
    job = store.list_jobs()[0]
    view = job.public()
    assert "pid" not in view and view["status"] == J.QUEUED and view["created"].endswith("Z")


def test_a_given_duplicate_id_is_refused(tmp_path: Path) -> None:
    store = J.JobStore(tmp_path / "jobs.sqlite")
    store.submit("m", {}, job_id="p-fixed")
    with pytest.raises(sqlite3.IntegrityError):
        store.submit("m", {}, job_id="p-fixed")
    assert len(store.list_jobs()) == 1
