"""The job manager with real worker processes and the real TAPS model: it survives a full jobs database (SQLite's
own ``database or disk is full``, reached by capping the database's pages) and stops a job past its time limit;
in both cases the next job runs."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from server_helpers import write_crops

from deepinfer.jobs import InputFile, Job, JobFolders, JobManager, JobState, ManagerSettings, RetentionPolicy
from deepinfer.registry import default_registry
from deepinfer.server._state import card_lookup

KEEP_ALL = RetentionPolicy(max_age_s=None, max_bytes=None)


@pytest.fixture(scope="module")
def crop(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_crops(colin27, tmp_path_factory.mktemp("crops"))["A"][0]


@pytest.fixture(autouse=True)
def home(shared_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPINFER_HOME", str(shared_home))  # the workers fetch the weights once per session


def submit(manager: JobManager, volume: Path) -> str:
    folder = manager.folders.new_upload()
    shutil.copy(volume, folder / "T2.nii.gz")
    job = Job(
        manager.new_job_id(),
        "prostate-taps@" + default_registry().get("prostate-taps").version,
        {"threshold": 0.01},
        {"T2": InputFile("T2.nii.gz", volume.name, volume.stat().st_size)},
        {"ProstateMask": "ProstateMask.nii.gz"},
        ".nii.gz",
        created=time.time(),
    )
    manager.folders.adopt(folder, job.id)
    manager.submit(job)
    return job.id


def until(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def state(manager: JobManager, job_id: str) -> JobState:
    job = manager.store.get(job_id)
    assert job is not None
    return job.state


def started_manager(data: Path, settings: ManagerSettings, on_change: Callable[[str], None]) -> JobManager:
    manager = JobManager(JobFolders(data), card_lookup(default_registry()), settings, on_change)
    manager.start()
    until(lambda: manager.ready, "the worker is ready")
    return manager


class DiskFiller:
    """Fills the manager's own SQLite database to its last byte: the page count is capped (``PRAGMA
    max_page_count``) and filler rows (cancelled jobs named ``f…``) take the free space of the job table's pages,
    so a write that needs more room fails inside SQLite with ``database or disk is full``, as on a full disk.
    ``free`` removes the filler rows and the cap."""

    def __init__(self, manager: JobManager) -> None:
        self.store = manager.store

    def fill(self) -> None:
        with self.store._lock:
            db = self.store._db
            (pages,) = db.execute("PRAGMA page_count").fetchone()
            db.execute(f"PRAGMA max_page_count = {pages}")
            count = 0
            for size in (1024, 128, 16, 1):
                while True:
                    try:
                        db.execute(
                            "INSERT INTO jobs (id, model, parameters, inputs, outputs, output_format, state, "
                            "message, created) VALUES (?, 'filler', '{}', '{}', '{}', '.nii.gz', 'cancelled', ?, 0)",
                            (f"f{count:031x}", "x" * size),
                        )
                    except Exception as error:
                        assert "database or disk is full" in str(error)
                        break
                    count += 1

    def free(self) -> None:
        with self.store._lock:
            self.store._db.execute("PRAGMA max_page_count = 1073741823")
            self.store._db.execute("DELETE FROM jobs WHERE model = 'filler'")


def test_a_full_database_during_a_job_does_not_stop_the_manager(crop: Path, tmp_path: Path) -> None:
    filled = threading.Event()
    holder: list[DiskFiller] = []

    def on_change(job_id: str) -> None:  # the manager's thread, right after it handed the job to the worker
        if holder and not filled.is_set() and holder[0].store.get(job_id) is not None:
            job = holder[0].store.get(job_id)
            if job is not None and job.state is JobState.running:
                holder[0].fill()
                filled.set()

    manager = started_manager(tmp_path / "data", ManagerSettings(threads=1, retention=KEEP_ALL), on_change)
    try:
        holder.append(DiskFiller(manager))
        first = submit(manager, crop)
        until(filled.is_set, "the database was filled while the job ran")
        until(lambda: manager.storage_problem is not None, "the manager noticed the full database")
        assert "database or disk is full" in (manager.storage_problem or "")
        assert not manager.ready, "readiness says the server cannot take work"
        assert manager._thread.is_alive(), "the manager thread survives"
        until(lambda: bool(manager._pending), "the worker's result waits to be recorded")
        assert state(manager, first) is JobState.running

        holder[0].free()
        until(lambda: state(manager, first).terminal, "the waiting result is recorded once space is back")
        assert state(manager, first) is JobState.succeeded
        assert manager.folders.output_path(manager.store.get(first), "ProstateMask").is_file()  # type: ignore[arg-type]
        until(lambda: manager.ready, "ready again")
        second = submit(manager, crop)
        until(lambda: state(manager, second).terminal, "the next job runs")
        assert state(manager, second) is JobState.succeeded
    finally:
        manager.shutdown(drain_timeout=0)


def test_a_job_past_its_time_limit_fails_and_the_next_one_runs(crop: Path, tmp_path: Path) -> None:
    settings = ManagerSettings(threads=1, job_timeout=0.2, retention=KEEP_ALL)
    manager = started_manager(tmp_path / "data", settings, lambda job_id: None)
    try:
        worker = manager.pool.slots[0].process.pid
        first = submit(manager, crop)
        second = submit(manager, crop)
        until(lambda: state(manager, first).terminal, "the first job ends")
        job = manager.store.get(first)
        assert job is not None and job.state is JobState.failed and job.error_kind == "TimeLimitError"
        assert job.error is not None and "time limit of 0.2 s" in job.error and "worker was stopped" in job.error
        assert not Path(f"/proc/{worker}").exists(), "the worker that ran it was stopped"
        until(lambda: state(manager, second) is not JobState.queued, "the next job starts on a fresh worker")
        until(lambda: state(manager, second).terminal, "the next job ends")
        assert manager.store.get(second).error_kind == "TimeLimitError"  # type: ignore[union-attr]
    finally:
        manager.shutdown(drain_timeout=0)
