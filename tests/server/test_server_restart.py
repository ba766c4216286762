"""Persistence: a server killed with SIGKILL mid-queue loses no job (queued ones run, the interrupted one runs
again), its workers die with it, and a graceful shutdown drains running jobs up to its timeout."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import pytest
from server_helpers import ServerProcess, read_array, submit, wait_for, write_crops

from deepinfer.jobs import JobState, JobStore

# OpenVINO in fast mode: what is tested is the queue's restart and shutdown, which do not depend on the runtime,
# and a TAPS window takes about half the time of exact mode (the masks of the three jobs must still be equal)
FAST = ["--runtime", "openvino", "--precision", "fast"]


@pytest.fixture(scope="module")
def crop(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_crops(colin27, tmp_path_factory.mktemp("crops"))["A"][0]


def gone(pid: int) -> bool:
    """True when the process ended (a zombie waiting for its reaper counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


def states(data: Path, ids: list[str]) -> list[tuple[JobState, str, int]]:
    store = JobStore(data / "jobs.sqlite3")
    try:
        jobs = [store.get(job_id) for job_id in ids]
        return [(job.state, job.message, job.attempts) for job in jobs if job is not None]
    finally:
        store.close()


def test_sigkill_mid_queue_then_restart_runs_every_job(crop: Path, tmp_path: Path, shared_home: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data, shared_home, workers=1, extra=FAST).start()
    try:
        with server.client() as http:
            ids = [submit(http, crop, {"threshold": 0.01}).json()["id"] for _ in range(3)]
            wait_for(http, ids[0], {"running"}, timeout=120)
            workers = server.worker_pids()
            assert workers
            assert server.signal(signal.SIGKILL) == -signal.SIGKILL
    finally:
        server.stop()
    deadline = time.monotonic() + 10
    while not all(gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(gone(pid) for pid in workers), "a worker outlived its server"
    assert [s[0] for s in states(data, ids)] == [JobState.running, JobState.queued, JobState.queued]

    restarted = ServerProcess(data, shared_home, workers=1, extra=FAST).start()
    try:
        with restarted.client() as http:
            first = http.get(f"/api/jobs/{ids[0]}").json()
            assert first["state"] in {"queued", "running"}
            finals = [wait_for(http, job_id, timeout=180) for job_id in ids]
            assert [f["state"] for f in finals] == ["succeeded"] * 3
            assert [f["attempts"] for f in finals] == [2, 1, 1]
            masks = [
                read_array(http.get(f["outputs"]["ProstateMask"]).content, tmp_path, f"{i}.nii.gz")
                for i, f in enumerate(finals)
            ]
            assert masks[0].any() and all(np.array_equal(masks[0], mask) for mask in masks[1:])
            assert not any(data.joinpath("uploads").iterdir())
    finally:
        restarted.stop()


def test_graceful_shutdown_drains_running_jobs_up_to_its_timeout(crop: Path, tmp_path: Path, shared_home: Path) -> None:
    data = tmp_path / "data"
    for drain, expected in (("60", JobState.succeeded), ("0", JobState.queued)):
        server = ServerProcess(data, shared_home, workers=1, extra=["--drain-timeout", drain, *FAST]).start()
        try:
            with server.client() as http:
                job_id = submit(http, crop, {"threshold": 0.01}).json()["id"]
                wait_for(http, job_id, {"running"}, timeout=120)
            assert server.signal(signal.SIGTERM, timeout=120) in (0, -signal.SIGTERM), server.log_tail()
        finally:
            server.stop()
        [(state, message, attempts)] = states(data, [job_id])
        assert state is expected, (drain, message)
        if expected is JobState.queued:  # stopped by the drain timeout: it runs again at the next start
            assert "shutdown" in message and attempts == 0
