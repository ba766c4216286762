"""The job manager: a persistent queue (SQLite) in front of a pool of warm worker processes.

One thread owns the pool: it hands the oldest queued job to an idle worker, records the workers' progress and
results, replaces a worker whose job was cancelled (the process is terminated, so the work really stops) or
that died or ran past the per-job time limit, removes expired job data (retention), and drains the pool at
shutdown. Request threads only write rows and wake that thread.

A storage error (``database or disk is full``) never stops that thread: a worker's result that cannot be recorded
is kept and recorded once space is back, no job starts meanwhile, and :attr:`JobManager.storage_problem` says
why (the server's readiness shows it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from deepinfer._exceptions import StorageError
from deepinfer.card import ModelCard
from deepinfer.jobs._db import JobStore
from deepinfer.jobs._layout import JobFolders
from deepinfer.jobs._pool import WorkerPool, WorkerSlot
from deepinfer.jobs._records import Job, JobState, overall_progress, progress_message
from deepinfer.jobs._retention import RetentionPolicy, apply_retention, remove_job
from deepinfer.jobs._worker import WorkerOptions

log = logging.getLogger("deepinfer.jobs")

CardLookup = Callable[[str], tuple[ModelCard, Path | None]]
"""``id@version`` → (card, the folder its file artifacts resolve against)."""


@dataclass(frozen=True)
class ManagerSettings:
    workers: int = 1
    threads: int | None = None
    runtime: str | None = None
    """The workers' runtime choice (None: ``$DEEPINFER_RUNTIME``, else ``auto``)."""
    precision: str | None = None
    """The workers' precision (None: ``$DEEPINFER_PRECISION``, else ``exact``)."""
    max_queued: int = 100
    max_attempts: int = 2
    """A job whose server stopped this many times while running it fails instead of running again."""
    job_timeout: float | None = 3600.0
    """Wall-clock seconds a job may run; past it its worker is stopped and the job fails (None: no limit)."""
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    ray: str | None = None
    """A Ray cluster's address: the jobs run on actors there (one per worker), not in the workers themselves."""


class JobManager:
    def __init__(
        self,
        folders: JobFolders,
        cards: CardLookup,
        settings: ManagerSettings,
        on_change: Callable[[str], None] = lambda job_id: None,
    ) -> None:
        self.folders = folders
        self.cards = cards
        self.settings = settings
        self.on_change = on_change
        folders.prepare()
        self.store = JobStore(folders.database)
        options = WorkerOptions(settings.threads, settings.runtime, settings.precision, settings.ray)
        self.pool = WorkerPool(settings.workers, options)
        self._commands: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        self._thread = threading.Thread(target=self._loop, name="deepinfer-jobs", daemon=True)
        self._draining = False
        self._stopped = threading.Event()
        self._pending: list[tuple[WorkerSlot, tuple[Any, ...]]] = []
        """Results that could not be recorded (storage error), in arrival order; retried every turn."""
        self._deadlines: dict[str, float] = {}
        """Job id → monotonic time past which its worker is stopped."""
        self._retention_at = 0.0
        self.storage_problem: str | None = None
        """Why the last write of the jobs database failed (None: it worked)."""

    # ------------------------------------------------------------------------------ called by the server

    def start(self) -> tuple[int, int]:
        """Recover the jobs of a previous run, start the workers; returns (re-queued, failed) jobs."""
        recovered = self.store.recover(self.settings.max_attempts)
        for job_id in self.store.ids(JobState.queued):
            self.folders.clear_outputs(job_id)  # files of an attempt a killed server left behind
        self._thread.start()
        return recovered

    @property
    def ready(self) -> bool:
        return self._thread.is_alive() and not self._draining and self.pool.ready and self.storage_problem is None

    def submit(self, job: Job) -> None:
        """Queue ``job`` (its inputs already in its folder); raises QueueFullError when the queue is full."""
        self.store.add(job, self.settings.max_queued)
        self._wake()

    def cancel(self, job_id: str) -> JobState | None:
        """Cancel a job; a running one has its worker process terminated. Returns the state it had."""
        before = self.store.cancel(job_id)
        if before is JobState.running:
            self._commands.put(("cancel", job_id))
            self._wake()
        if before is not None:
            self.on_change(job_id)
        return before

    def shutdown(self, drain_timeout: float) -> None:
        """Stop taking jobs, let running ones finish for up to ``drain_timeout`` s, then stop the workers;
        jobs still running go back to the queue (they run again at the next start)."""
        self._draining = True
        deadline = time.monotonic() + drain_timeout
        while self._thread.is_alive() and self.store.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        self._commands.put(("stop", ""))
        self._wake()
        self._stopped.wait(timeout=30)
        self._thread.join(timeout=5)
        self.store.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def remove(self, job_id: str) -> JobState | None:
        """Remove an ended job's row and files; returns its state (a queued or running job is left alone)."""
        state = self.store.get(job_id)
        if state is None:
            return None
        if state.state.terminal and remove_job(self.store, self.folders, job_id):
            self.on_change(job_id)
        return state.state

    def new_job_id(self) -> str:
        return uuid.uuid4().hex

    # ---------------------------------------------------------------------------- the manager's thread

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_write, b"x")

    def _loop(self) -> None:
        self.pool.start()
        try:
            while True:
                wait([self._wake_read, *self.pool.waitables()], timeout=self._wait_s())
                self._drain_wake_pipe()
                if self._turn():
                    return
        except Exception:
            log.exception("the job manager stopped")
        finally:
            self._stop_pool()
            self._stopped.set()

    def _turn(self) -> bool:
        """One round of the manager's work; True when the thread should end."""
        try:
            self._retry_pending()
            for slot, message in self.pool.messages():
                self._record(slot, message)
            if self._run_commands():
                return True
            for slot, code in self.pool.reap():
                self._lost(slot, code)
            self._stop_overdue()
            if not self._draining and not self._pending:
                self._dispatch()
                self._retention()
        except StorageError as error:
            self._storage_failed(error)
        return False

    def _wait_s(self) -> float:
        if self._pending:
            return 0.5
        soonest = min(self._deadlines.values(), default=None)
        return 1.0 if soonest is None else min(1.0, max(0.01, soonest - time.monotonic()))

    def _storage_failed(self, error: StorageError) -> None:
        if self.storage_problem != str(error):
            log.error("storage error: %s (jobs wait until it is resolved)", error)
        self.storage_problem = str(error)

    def _record(self, slot: WorkerSlot, message: tuple[Any, ...]) -> None:
        """Handle a worker's message; a result that cannot be written now waits in ``_pending``."""
        try:
            self._handle(slot, message)
        except StorageError as error:
            self._storage_failed(error)
            if message[0] in {"succeeded", "failed", "lost"}:
                self._pending.append((slot, message))
            return
        if message[0] != "progress":
            self.storage_problem = None

    def _retry_pending(self) -> None:
        while self._pending:
            slot, message = self._pending[0]
            self._handle(slot, message)  # a StorageError leaves it first in line
            self._pending.pop(0)
            self.storage_problem = None

    def _stop_overdue(self) -> None:
        """Stop the worker of every job past the time limit; the job fails saying so."""
        now = time.monotonic()
        waiting = {id(slot) for slot, _ in self._pending}
        for slot in self.pool.busy():
            deadline = self._deadlines.get(slot.job_id or "")
            if deadline is None or now < deadline or id(slot) in waiting or not slot.token:
                continue
            limit = self.settings.job_timeout
            log.warning("job %s ran past the time limit of %s s: stopping worker %d", slot.job_id, limit, slot.index)
            self.pool.replace(slot)
            reason = (
                f"the job ran longer than the server's time limit of {limit:g} s (--job-timeout); "
                "its worker was stopped"
            )
            self._record(slot, ("failed", slot.token, "TimeLimitError", reason))

    def _retention(self) -> None:
        now = time.monotonic()
        if now < self._retention_at:
            return
        self._retention_at = now + self.settings.retention.interval_s
        for job_id in apply_retention(self.store, self.folders, self.settings.retention, time.time()):
            self.on_change(job_id)

    def _drain_wake_pipe(self) -> None:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _run_commands(self) -> bool:
        """Cancel requests and the stop request; True when the thread should end."""
        while True:
            try:
                command, job_id = self._commands.get_nowait()
            except queue.Empty:
                return False
            if command == "stop":
                return True
            slot = self.pool.find(job_id)
            if slot is not None:
                log.info("job %s cancelled: stopping worker %d", job_id, slot.index)
                self._deadlines.pop(job_id, None)
                self.pool.replace(slot)

    def _dispatch(self) -> None:
        for slot in self.pool.idle():
            token = uuid.uuid4().hex
            job = self.store.claim_next(token)
            if job is None:
                return
            try:
                task = self._task(job, token)
            except Exception as error:  # the card vanished from the registry, or the job's files did
                self.store.finish(
                    job.id,
                    token,
                    JobState.failed,
                    error_kind="ServerError",
                    error=self.folders.scrub(f"cannot start the job: {error}"),
                )
                self.on_change(job.id)
                continue
            self.pool.assign(slot, job.id, token, task)
            if self.settings.job_timeout is not None:
                self._deadlines[job.id] = time.monotonic() + self.settings.job_timeout
            self.storage_problem = None
            self.on_change(job.id)

    def _task(self, job: Job, token: str) -> dict[str, Any]:
        card, card_dir = self.cards(job.model)
        return {
            "token": token,
            "card": card.model_dump_json(),
            "card_dir": str(card_dir) if card_dir else None,
            "inputs": {name: str(self.folders.input_path(job, name)) for name in job.inputs},
            "outputs": {name: str(self.folders.output_path(job, name)) for name in job.outputs},
            "parameters": job.parameters,
            "series": {name: item.series for name, item in job.inputs.items() if item.series},
            "store": job.store,
        }

    def _handle(self, slot: WorkerSlot, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            slot.pid = message[1]
            return
        token = message[1]
        if token != slot.token or slot.job_id is None:
            return  # an event of an attempt that no longer counts
        job_id = slot.job_id
        if kind == "progress":
            self._progress(job_id, token, *message[2:])
        elif kind == "lost":  # (serve --ray) the job's actor was lost; it runs again on a new one, or fails next
            if self.store.record_lost(job_id, token, self.folders.scrub(message[2]), retrying=message[3]):
                log.warning("job %s: %s%s", job_id, message[2], "; running it again" if message[3] else "")
                self.on_change(job_id)
        elif kind == "succeeded":
            self._finish(job_id, token, JobState.succeeded, timings=message[2])
            self._release(slot, job_id)
        elif kind == "failed":
            self._finish(job_id, token, JobState.failed, error_kind=message[2], error=message[3])
            self._release(slot, job_id)

    def _release(self, slot: WorkerSlot, job_id: str) -> None:
        self._deadlines.pop(job_id, None)
        self.pool.release(slot)

    def _progress(self, job_id: str, token: str, task: str, done: int, total: int) -> None:
        job = self.store.get(job_id)
        if job is None:
            return
        fraction = overall_progress(job.progress, task, done, total)
        message = progress_message(task, done, total)
        if self.store.update_progress(
            job_id, token, progress=fraction, message=message, task=task, done=done, total=total
        ):
            self.on_change(job_id)

    def _finish(
        self,
        job_id: str,
        token: str,
        state: JobState,
        *,
        timings: dict[str, float] | None = None,
        error_kind: str | None = None,
        error: str | None = None,
    ) -> None:
        job = self.store.get(job_id)
        if job is None:
            return
        now = time.time()
        spans = {
            "queued_s": (job.started or now) - job.created,
            "run_s": now - (job.started or now),
            "total_s": now - job.created,
        }
        all_timings = {**(timings or {}), **{name: round(value, 4) for name, value in spans.items()}}
        message = self.folders.scrub(error) if error else None
        if self.store.finish(job_id, token, state, error_kind=error_kind, error=message, timings=all_timings):
            self.on_change(job_id)

    def _lost(self, slot: WorkerSlot, code: int | None) -> None:
        if slot.job_id and slot.token:
            reason = f"the worker process stopped unexpectedly (exit code {code})"
            self._record(slot, ("failed", slot.token, "WorkerError", reason))
        else:
            self.pool.release(slot)

    def _stop_pool(self) -> None:
        for slot in self.pool.busy():
            if not (slot.job_id and slot.token):
                continue
            message = "interrupted by a server shutdown; it runs again at the next start"
            try:
                if self.store.requeue(slot.job_id, slot.token, message, count_attempt=False):
                    self.on_change(slot.job_id)
            except StorageError as error:  # the next start re-queues it (recover)
                log.error("job %s left running at shutdown: %s", slot.job_id, error)
        self.pool.stop()
