"""The worker process: runs one job at a time through :func:`deepinfer.run.run_model`, keeping every card's
loaded networks between jobs (models stay warm).

It talks to the server over its own duplex pipe (no queue shared with other workers, so killing one worker to
cancel its job cannot leave a lock held): the server sends a task dict (or None: stop), the worker sends
``("ready", pid)``, ``("progress", token, task, done, total)``, ``("succeeded", token, timings)`` and
``("failed", token, kind, message)``. A worker dies with the server (Linux parent-death signal) and otherwise
notices a vanished server within a second between jobs.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from deepinfer.jobs._ray_worker import RayJobs

_PR_SET_PDEATHSIG = 1
_PROGRESS_INTERVAL_S = 0.25
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker runs the networks: CPU threads (None: the runtime's default), ``runtime`` (None:
    ``$DEEPINFER_RUNTIME``, else ``auto``) and ``precision`` (None: ``$DEEPINFER_PRECISION``, else ``exact``)."""

    threads: int | None = None
    runtime: str | None = None
    precision: str | None = None
    ray: str | None = None
    """A Ray cluster's address: the worker hands its jobs to an actor there (see ``_ray_worker``)."""


class Sender(Protocol):
    """Where a job's messages go: the worker's pipe, or a Ray actor's stream."""

    def send(self, obj: Any) -> None: ...


def worker_main(conn: Connection, options: WorkerOptions, parent_pid: int) -> None:
    """Entry point of a worker process (spawned)."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C on the server's terminal: the server stops us
    worker: JobRunner | RayJobs
    if options.ray is not None:
        from deepinfer.jobs._ray_worker import RayJobs

        worker = RayJobs(conn, options)
    else:
        worker = JobRunner(conn, options)
    conn.send(("ready", os.getpid()))
    while True:
        if not conn.poll(1.0):
            if os.getppid() != parent_pid:
                return
            continue
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        worker.run(task)


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the server died before the signal was armed
        os._exit(0)


class JobRunner:
    """Cards and their loaded networks, kept between jobs; one job at a time (in a worker process, or in the
    Ray actor of one)."""

    def __init__(self, conn: Sender, options: WorkerOptions) -> None:
        import deepinfer.run  # noqa: F401  (import the runtime stack now, not in the first job)
        from deepinfer.store import ArtifactStore

        self.conn = conn
        self.options = options
        self.threads = options.threads
        self.store = ArtifactStore()
        self.loaded: dict[str, tuple[Any, Any]] = {}
        self.report: Callable[[str, int, int], None] = lambda task, done, total: None

    def run(self, task: dict[str, Any]) -> None:
        from deepinfer._exceptions import DeepInferError
        from deepinfer.run import run_model

        token = task["token"]
        self.report = _Throttled(lambda *event: self.conn.send(("progress", token, *event)))
        started = time.perf_counter()
        try:
            card, networks = self._loaded(task["card"], task["card_dir"])
            result = run_model(
                card,
                {name: Path(path) for name, path in task["inputs"].items()},
                {name: Path(path) for name, path in task["outputs"].items()},
                task["parameters"],
                store=self.store,
                card_dir=Path(task["card_dir"]) if task["card_dir"] else None,
                threads=self.threads,
                progress=self._progress,
                networks=networks,
                self_contained=True,  # an upload must hold its own voxels (no detached data file)
                series=task.get("series") or None,
            )
            if task.get("store"):
                _store(task["store"], result.outputs)
        except DeepInferError as error:
            self.conn.send(("failed", token, type(error).__name__, str(error)))
            return
        except Exception as error:  # a bug or a library failure: the server log gets the traceback
            traceback.print_exc(file=sys.stderr)
            self.conn.send(("failed", token, *failure(error)))
            return
        timings = {**result.timings, "worker_s": time.perf_counter() - started}
        stats = {name: round(value, 4) for name, value in timings.items()}
        # (a count among the seconds: how many networks this job had to open; 0 when the worker kept them warm)
        self.conn.send(("succeeded", token, {**stats, "networks_opened": result.networks_opened}))

    def _progress(self, task: str, done: int, total: int) -> None:
        self.report(task, done, total)

    def _loaded(self, card_json: str, card_dir: str | None) -> tuple[Any, Any]:
        """The card and its network cache; the same card from the same folder reuses its loaded networks."""
        from deepinfer.card import ModelCard
        from deepinfer.run import fetch_artifact
        from deepinfer.runners import card_network_cache

        key = f"{card_dir}\n{card_json}"
        if key not in self.loaded:
            card = ModelCard.model_validate_json(card_json)
            folder = Path(card_dir) if card_dir else None
            # The compiled networks stay loaded in this worker between jobs.
            networks = card_network_cache(
                card,
                lambda name: fetch_artifact(self.store, card, name, folder, self._progress),
                self.threads,
                runtime=self.options.runtime,
                precision=self.options.precision,
                home=self.store.home,
            )
            self.loaded[key] = (card, networks)
        return self.loaded[key]


def failure(error: BaseException) -> tuple[str, str]:
    """(kind, message) of an unexpected exception: a full disk says so (the message names no path), anything
    else is an internal error whose traceback only the server log shows."""
    if isinstance(error, OSError) and error.errno in _NO_SPACE:
        return "StorageError", "the server's disk is full (no space left to write the job's files); try again later"
    return "InternalError", f"internal error ({type(error).__name__})"


class _Throttled:
    """Forwards progress events: every change of task and the last one of each task, others at most every 0.25 s."""

    def __init__(self, send: Callable[[str, int, int], None]) -> None:
        self.send = send
        self.task = ""
        self.last = 0.0

    def __call__(self, task: str, done: int, total: int) -> None:
        now = time.monotonic()
        if task != self.task or done >= total or now - self.last >= _PROGRESS_INTERVAL_S:
            self.task, self.last = task, now
            self.send(task, done, total)


def _store(url: str, outputs: Mapping[str, Path]) -> None:
    """Store the run's DICOM outputs into their study on the PACS at ``url``, checked against the operator's
    allow-list again (it may have changed since the job was queued)."""
    from deepinfer._config import deepinfer_home
    from deepinfer.dicomweb import allowed_pacs, open_client, parse_location
    from deepinfer.run import store_dicom_outputs

    location = parse_location(url)
    store_dicom_outputs(location, open_client(location, allowed_pacs(location, deepinfer_home())), outputs)
