"""Jobs in SQLite (WAL): one table, every change one short transaction, safe to read after a SIGKILL.

A write that SQLite cannot make (``database or disk is full``, an I/O error) raises :class:`StorageError`, never
a bare ``sqlite3`` error: the job manager keeps running and tries again once space is back."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from deepinfer._exceptions import QueueFullError, StorageError
from deepinfer.jobs._records import InputFile, Job, JobState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    model TEXT NOT NULL,
    parameters TEXT NOT NULL,
    inputs TEXT NOT NULL,
    outputs TEXT NOT NULL,
    output_format TEXT NOT NULL,
    state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    task TEXT NOT NULL DEFAULT '',
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    error_kind TEXT,
    error TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    token TEXT,
    timings TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
"""
_JSON_COLUMNS = ("parameters", "inputs", "outputs", "timings", "lost")
_ADDED_COLUMNS = {"store": "TEXT", "retries": "INTEGER NOT NULL DEFAULT 0", "lost": "TEXT NOT NULL DEFAULT '[]'"}
"""Columns added after the first release; a database made before gets them when the server starts."""


class JobStore:
    """Job rows; methods that change a running job name its attempt ``token`` so stale events change nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, kind in _ADDED_COLUMNS.items():
            if name not in present:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _storage_errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already (a full disk does)
                    self._db.execute("ROLLBACK")
                raise

    def add(self, job: Job, max_queued: int) -> None:
        """Insert a queued job, or raise QueueFullError when ``max_queued`` jobs already wait."""
        row = _to_row(job)
        with self._transaction() as db:
            (waiting,) = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").fetchone()
            if waiting >= max_queued:
                raise QueueFullError(f"the queue is full ({waiting} jobs waiting)")
            columns = ", ".join(row)
            db.execute(f"INSERT INTO jobs ({columns}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _from_row(row) if row else None

    def count(self, state: JobState) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM jobs WHERE state = ?", (state.value,)).fetchone()
        return int(n)

    def ids(self, state: JobState) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT id FROM jobs WHERE state = ? ORDER BY seq", (state.value,)).fetchall()
        return [str(row["id"]) for row in rows]

    def running(self) -> list[Job]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs WHERE state = 'running' ORDER BY seq").fetchall()
        return [_from_row(row) for row in rows]

    def claim_next(self, token: str) -> Job | None:
        """The oldest queued job, now running under ``token`` (None when nothing waits)."""
        with self._transaction() as db:
            row = db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', token = ?, started = ?, attempts = attempts + 1, "
                "message = 'starting', progress = 0, task = '', done = 0, total = 0 WHERE id = ?",
                (token, time.time(), row["id"]),
            )
            claimed = db.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchone()
        return _from_row(claimed)

    def update_progress(self, job_id: str, token: str, **values: Any) -> bool:
        """Set progress columns (progress, message, task, done, total) of the running attempt ``token``."""
        allowed = {"progress", "message", "task", "done", "total"}
        assert set(values) <= allowed, values
        assignments = ", ".join(f"{name} = ?" for name in values)
        return self._update_running(job_id, token, assignments, tuple(values.values()))

    def finish(
        self,
        job_id: str,
        token: str,
        state: JobState,
        *,
        error_kind: str | None = None,
        error: str | None = None,
        timings: dict[str, float] | None = None,
    ) -> bool:
        """End the running attempt ``token`` as succeeded or failed; False when it is no longer running."""
        message = "finished" if state is JobState.succeeded else "failed"
        progress = 1.0 if state is JobState.succeeded else None
        return self._update_running(
            job_id,
            token,
            "state = ?, message = ?, progress = COALESCE(?, progress), error_kind = ?, error = ?, finished = ?, "
            "timings = ?",
            (state.value, message, progress, error_kind, error, time.time(), json.dumps(timings or {})),
        )

    def _update_running(self, job_id: str, token: str, assignments: str, values: tuple[Any, ...]) -> bool:
        with self._lock, _storage_errors():
            cursor = self._db.execute(
                f"UPDATE jobs SET {assignments} WHERE id = ? AND token = ? AND state = 'running'",
                (*values, job_id, token),
            )
        return cursor.rowcount == 1

    def record_lost(self, job_id: str, token: str, line: str, *, retrying: bool) -> bool:
        """Record that the running attempt ``token`` lost its Ray actor (``line`` says how). ``retrying``: the job
        runs again on a new actor, its progress starting over; else its failure follows. False when the attempt
        no longer runs."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT lost FROM jobs WHERE id = ? AND token = ? AND state = 'running'", (job_id, token)
            ).fetchone()
            if row is None:
                return False
            lost = json.dumps([*json.loads(row["lost"]), line])
            if retrying:
                db.execute(
                    "UPDATE jobs SET lost = ?, retries = retries + 1, progress = 0, task = '', done = 0, total = 0, "
                    "message = 'its Ray actor was lost: running again on a new actor' WHERE id = ?",
                    (lost, job_id),
                )
            else:
                db.execute("UPDATE jobs SET lost = ? WHERE id = ?", (lost, job_id))
        return True

    def cancel(self, job_id: str) -> JobState | None:
        """Cancel a queued or running job; returns the state it had (None when unknown)."""
        with self._transaction() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            before = JobState(row["state"])
            if not before.terminal:
                db.execute(
                    "UPDATE jobs SET state = 'cancelled', message = 'cancelled', finished = ? WHERE id = ?",
                    (time.time(), job_id),
                )
        return before

    def ended(self) -> list[tuple[str, float]]:
        """(id, finished) of every succeeded, failed or cancelled job, the longest finished first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, COALESCE(finished, created) AS at FROM jobs "
                "WHERE state IN ('succeeded', 'failed', 'cancelled') ORDER BY at, seq"
            ).fetchall()
        return [(str(row["id"]), float(row["at"])) for row in rows]

    def delete(self, job_id: str) -> JobState | None:
        """Remove an ended job's row; returns the state it had (None when unknown; a queued or running job
        stays)."""
        with self._transaction() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            state = JobState(row["state"])
            if state.terminal:
                db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return state

    def requeue(self, job_id: str, token: str, message: str, *, count_attempt: bool) -> bool:
        """Put a running attempt back in the queue (an interrupted run); it keeps its place by age."""
        attempts = "attempts" if count_attempt else "MAX(attempts - 1, 0)"
        return self._update_running(
            job_id,
            token,
            f"state = 'queued', token = NULL, started = NULL, message = ?, attempts = {attempts}",
            (message,),
        )

    def fail_running(self, job_id: str, token: str, message: str) -> bool:
        return self.finish(job_id, token, JobState.failed, error_kind="WorkerError", error=message)

    def recover(self, max_attempts: int) -> tuple[int, int]:
        """After a restart: running jobs (their server died) run again, or fail once they used ``max_attempts``.
        Returns (re-queued, failed)."""
        with self._transaction() as db:
            failed = db.execute(
                "UPDATE jobs SET state = 'failed', error_kind = 'WorkerError', message = 'failed', finished = ?, "
                "error = 'the server stopped while this job was running, ' || attempts || ' time(s); not retried' "
                "WHERE state = 'running' AND attempts >= ?",
                (time.time(), max_attempts),
            ).rowcount
            queued = db.execute(
                "UPDATE jobs SET state = 'queued', token = NULL, started = NULL, "
                "message = 're-queued: the server stopped while this job was running' WHERE state = 'running'"
            ).rowcount
        return queued, failed


@contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as error:
        raise StorageError(f"the jobs database cannot be written ({error}); free disk space on the server") from error


def _to_row(job: Job) -> dict[str, Any]:
    row = asdict(job)
    row["state"] = job.state.value
    row["inputs"] = {name: asdict(item) for name, item in job.inputs.items()}
    for name in _JSON_COLUMNS:
        row[name] = json.dumps(row[name])
    return row


def _from_row(row: sqlite3.Row) -> Job:
    values = {key: row[key] for key in row.keys() if key != "seq"}  # noqa: SIM118 (sqlite3.Row is not a dict)
    for name in _JSON_COLUMNS:
        values[name] = json.loads(values[name])
    values["inputs"] = {name: InputFile(**item) for name, item in values["inputs"].items()}
    values["state"] = JobState(values["state"])
    return Job(**values)
