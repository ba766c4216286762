"""A jobs database written before columns were added (``store``; ``retries`` and ``lost``, the Ray actors a job
lost) opens: the columns are added, the old jobs read back unchanged (no store, no lost actor), and a new job keeps
its values."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from deepinfer.jobs import InputFile, Job, JobStore

OLD_SCHEMA = """
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, model TEXT NOT NULL, parameters TEXT NOT NULL,
    inputs TEXT NOT NULL, outputs TEXT NOT NULL, output_format TEXT NOT NULL, state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '', task TEXT NOT NULL DEFAULT '',
    done INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0, error_kind TEXT, error TEXT,
    created REAL NOT NULL, started REAL, finished REAL, attempts INTEGER NOT NULL DEFAULT 0, token TEXT,
    timings TEXT NOT NULL DEFAULT '{}'
);
"""
OLD_ID, NEW_ID = "0" * 32, "1" * 32


def test_an_old_database_gets_the_new_column_and_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
        db.execute(
            "INSERT INTO jobs (id, model, parameters, inputs, outputs, output_format, state, created) "
            "VALUES (?, 'tiny@1.0.0', '{}', ?, ?, '.nii.gz', 'queued', 1.0)",
            (OLD_ID, '{"T1": {"file": "T1.nii.gz", "filename": "t1.nii.gz", "bytes": 3}}', '{"Mask": "Mask.nii.gz"}'),
        )
    store = JobStore(path)
    try:
        old = store.get(OLD_ID)
        assert old is not None and old.store is None and old.retries == 0 and old.lost == []
        assert old.inputs == {"T1": InputFile("T1.nii.gz", "t1.nii.gz", 3)} and old.inputs["T1"].series is None
        new = Job(NEW_ID, "tiny@1.0.0", {}, {}, {"Mask": "Mask.dcm"}, ".dcm", created=2.0, store="dicomweb://h/r",
                  retries=1, lost=["attempt 1: its Ray actor was lost (NodeDiedError: gone)"])  # fmt: skip
        store.add(new, max_queued=10)
        assert store.get(NEW_ID) == new
    finally:
        store.close()
    assert {"store", "retries", "lost"} <= {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(jobs)")}
