"""Worker processes (spawned), each with its own duplex pipe. Used from the job manager's thread only."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from deepinfer.jobs._worker import WorkerOptions, worker_main

log = logging.getLogger("deepinfer.jobs")

_RESPAWN_DELAY_S = 2.0


@dataclass
class WorkerSlot:
    index: int
    process: BaseProcess
    conn: Connection
    spawned: float = field(default_factory=time.monotonic)
    pid: int | None = None
    """Set when the worker said it is ready (its imports are done)."""
    job_id: str | None = None
    token: str | None = None

    @property
    def busy(self) -> bool:
        return self.job_id is not None


class WorkerPool:
    def __init__(self, size: int, options: WorkerOptions) -> None:
        self.size = size
        self.options = options
        self._context = multiprocessing.get_context("spawn")
        self.slots: list[WorkerSlot] = []
        self._respawn_at: dict[int, float] = {}

    def start(self) -> None:
        self.slots = [self._spawn(index) for index in range(self.size)]

    def _spawn(self, index: int) -> WorkerSlot:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main,
            args=(theirs, self.options, os.getpid()),
            name=f"deepinfer-worker-{index}",
            daemon=True,
        )
        process.start()
        theirs.close()
        return WorkerSlot(index, process, ours)

    @property
    def ready(self) -> bool:
        return bool(self.slots) and all(s.pid is not None and s.process.is_alive() for s in self.slots)

    def waitables(self) -> list[Any]:
        """What the manager waits on: every pipe and every process sentinel (a worker's death wakes it)."""
        return [s.conn for s in self.slots] + [s.process.sentinel for s in self.slots if s.process.is_alive()]

    def idle(self) -> list[WorkerSlot]:
        return [s for s in self.slots if s.pid is not None and not s.busy and s.process.is_alive()]

    def busy(self) -> list[WorkerSlot]:
        return [s for s in self.slots if s.busy]

    def find(self, job_id: str) -> WorkerSlot | None:
        return next((s for s in self.slots if s.job_id == job_id), None)

    def assign(self, slot: WorkerSlot, job_id: str, token: str, task: dict[str, Any]) -> None:
        slot.job_id, slot.token = job_id, token
        slot.conn.send(task)

    @staticmethod
    def release(slot: WorkerSlot) -> None:
        slot.job_id = slot.token = None

    def messages(self) -> list[tuple[WorkerSlot, tuple[Any, ...]]]:
        """Every message waiting on the pipes (a broken pipe is left to :meth:`reap`)."""
        received: list[tuple[WorkerSlot, tuple[Any, ...]]] = []
        for slot in self.slots:
            try:
                while slot.conn.poll():
                    received.append((slot, slot.conn.recv()))
            except (EOFError, OSError):
                continue
        return received

    def replace(self, slot: WorkerSlot) -> WorkerSlot:
        """Stop ``slot``'s process now (cancel) and start a fresh worker in its place."""
        _terminate(slot.process)
        slot.conn.close()
        fresh = self._spawn(slot.index)
        self.slots[slot.index] = fresh
        return fresh

    def reap(self) -> list[tuple[WorkerSlot, int | None]]:
        """Workers that died on their own: each is replaced (after a short delay if it died young) and
        returned with its exit code, still holding the job it was running."""
        now = time.monotonic()
        dead: list[tuple[WorkerSlot, int | None]] = []
        for slot in list(self.slots):
            if slot.process.is_alive():
                continue
            if slot.index not in self._respawn_at:
                slot.process.join(0)
                dead.append((slot, slot.process.exitcode))
                log.warning("worker %d exited with code %s", slot.index, slot.process.exitcode)
                young = now - slot.spawned < _RESPAWN_DELAY_S
                self._respawn_at[slot.index] = now + (_RESPAWN_DELAY_S if young else 0.0)
            if now >= self._respawn_at[slot.index]:
                del self._respawn_at[slot.index]
                slot.conn.close()
                self.slots[slot.index] = self._spawn(slot.index)
        return dead

    def stop(self, timeout: float = 5.0) -> None:
        """Ask idle workers to stop, terminate busy ones, and make sure none is left."""
        for slot in self.slots:
            try:
                if slot.busy:
                    slot.process.terminate()
                else:
                    slot.conn.send(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + timeout
        for slot in self.slots:
            slot.process.join(max(0.0, deadline - time.monotonic()))
            _terminate(slot.process)
            slot.conn.close()
        self.slots = []


def _terminate(process: BaseProcess) -> None:
    if process.is_alive():
        process.terminate()
        process.join(5.0)
    if process.is_alive():
        process.kill()
        process.join(5.0)
