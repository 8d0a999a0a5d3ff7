"""The persistent job queue of the service: one SQLite file (stdlib ``sqlite3``, WAL mode).

A job is one ``tee-llm-prof profile`` invocation. Its life:

    queued ──▶ running ──▶ done | failed | cancelled
       │           └──────▶ interrupted   (the service stopped or died while it ran)
       └──▶ cancelled                      (cancelled before it started)

Jobs are never silently lost: on start the service calls :meth:`JobStore.recover`, which turns
every job still marked ``running`` into ``interrupted`` (its profile directory keeps whatever
the profile saved, marked incomplete).

Access is serialised by one lock around one connection, so the event loop and helper threads
can share the store; every statement is tiny, so holding the lock never blocks for long.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"
STATUSES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED)
FINAL = frozenset({DONE, FAILED, CANCELLED, INTERRUPTED})

# Schema migrations by version: MIGRATIONS[i] brings a database from version i to i + 1.
# Never edit a shipped step; append a new one (databases in the field are at older versions).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        model TEXT NOT NULL,
        request TEXT NOT NULL,           -- the validated request body (JSON)
        status TEXT NOT NULL,
        created REAL NOT NULL,           -- time.time() of each transition
        started REAL,
        finished REAL,
        pid INTEGER,                     -- of the profile subprocess (its process group id)
        exit_code INTEGER,
        reason TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        progress TEXT                    -- last known progress (JSON)
    );
    CREATE INDEX jobs_status ON jobs(status, seq);
    """,
)


@dataclass(frozen=True)
class Job:
    id: str
    seq: int
    model: str
    request: dict[str, Any]
    status: str
    created: float
    started: float | None
    finished: float | None
    pid: int | None
    exit_code: int | None
    reason: str | None
    cancel_requested: bool
    progress: dict[str, Any] | None

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def public(self) -> dict[str, Any]:
        """The job as the API shows it (the pid stays internal)."""
        return {
            "id": self.id,
            "model": self.model,
            "request": self.request,
            "status": self.status,
            "created": iso(self.created),
            "started": iso(self.started),
            "finished": iso(self.finished),
            "exit_code": self.exit_code,
            "reason": self.reason,
            "cancel_requested": self.cancel_requested,
            "progress": self.progress,
        }


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def new_job_id() -> str:
    """Sortable and unguessable enough to be a directory name: p-20261126T0543Z-3f9a1c."""
    return f"p-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}"


class JobStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # isolation_level=None: autocommit; multi-statement changes use explicit transactions
        self._db = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=10
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    # ------------------------------------------------------------------ schema
    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        with self._tx() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > len(MIGRATIONS):
                raise RuntimeError(
                    f"{self.path} has schema version {version}, newer than this tool "
                    f"({len(MIGRATIONS)}); upgrade tee-llm-prof"
                )
            for step in range(version, len(MIGRATIONS)):
                db.executescript_in_tx(MIGRATIONS[step])
                db.execute(f"PRAGMA user_version = {step + 1}")

    @contextmanager
    def _tx(self) -> Iterator[_TxCursor]:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield _TxCursor(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ reads
    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def list_jobs(self, status: str | None = None, limit: int = 500) -> list[Job]:
        """Newest first."""
        with self._lock:
            if status:
                rows = self._db.execute(
                    "SELECT * FROM jobs WHERE status = ? ORDER BY seq DESC LIMIT ?", (status, limit)
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT * FROM jobs ORDER BY seq DESC LIMIT ?", (limit,)
                ).fetchall()
        return [_job(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        out = dict.fromkeys(STATUSES, 0)
        out.update({r[0]: int(r[1]) for r in rows})
        return out

    # ------------------------------------------------------------------ transitions
    def submit(self, model: str, request: dict[str, Any], job_id: str | None = None) -> Job:
        for attempt in range(5):
            candidate = job_id or new_job_id()
            try:
                with self._tx() as db:
                    seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
                    db.execute(
                        "INSERT INTO jobs (id, seq, model, request, status, created) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (candidate, seq, model, json.dumps(request), QUEUED, time.time()),
                    )
                break
            except sqlite3.IntegrityError:
                # same second and same 24 random bits: draw again (a given id is an error)
                if job_id is not None or attempt == 4:
                    raise
        job = self.get(candidate)
        assert job is not None
        return job

    def claim_next(self) -> Job | None:
        """Oldest queued job → running (atomically), or None when the queue is empty."""
        with self._tx() as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE status = ? ORDER BY seq LIMIT 1", (QUEUED,)
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET status = ?, started = ? WHERE id = ?",
                (RUNNING, time.time(), row[0]),
            )
        return self.get(row[0])

    def set_pid(self, job_id: str, pid: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET pid = ? WHERE id = ?", (pid, job_id))

    def set_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET progress = ? WHERE id = ?", (json.dumps(progress), job_id))

    def finish(
        self, job_id: str, status: str, *, exit_code: int | None = None, reason: str | None = None
    ) -> None:
        if status not in FINAL:
            raise ValueError(f"not a final status: {status}")
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET status = ?, finished = ?, exit_code = ?, reason = ? "
                "WHERE id = ? AND status IN (?, ?)",
                (status, time.time(), exit_code, reason, job_id, QUEUED, RUNNING),
            )

    def request_cancel(self, job_id: str) -> str | None:
        """Cancel a job. A queued job is cancelled at once; a running one is flagged for the
        runner (which interrupts the subprocess). Returns the status after the call, or None
        if there is no such job."""
        with self._tx() as db:
            row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            status = str(row[0])
            if status == QUEUED:
                db.execute(
                    "UPDATE jobs SET status = ?, finished = ?, reason = ?, cancel_requested = 1 "
                    "WHERE id = ?",
                    (CANCELLED, time.time(), "cancelled before it started", job_id),
                )
                return CANCELLED
            if status == RUNNING:
                db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
            return status

    def recover(self) -> list[Job]:
        """Called once at start-up: jobs left ``running`` by a previous service process become
        ``interrupted``. Returns them (with their old pid) so the caller can stop orphans."""
        with self._tx() as db:
            rows = db.execute("SELECT * FROM jobs WHERE status = ?", (RUNNING,)).fetchall()
            db.execute(
                "UPDATE jobs SET status = ?, finished = ?, reason = ? WHERE status = ?",
                (
                    INTERRUPTED,
                    time.time(),
                    "the service stopped while this profile ran; what it measured is kept "
                    "and marked incomplete",
                    RUNNING,
                ),
            )
        return [_job(r) for r in rows]


class _TxCursor:
    """The connection inside an explicit transaction. ``executescript`` would COMMIT first, so
    migrations run their statements one by one inside the transaction instead."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, params)

    def executescript_in_tx(self, script: str) -> None:
        for statement in _statements(script):
            self._db.execute(statement)


def _statements(script: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        seq=int(row["seq"]),
        model=row["model"],
        request=json.loads(row["request"]),
        status=row["status"],
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        pid=row["pid"],
        exit_code=row["exit_code"],
        reason=row["reason"],
        cancel_requested=bool(row["cancel_requested"]),
        progress=json.loads(row["progress"]) if row["progress"] else None,
    )
