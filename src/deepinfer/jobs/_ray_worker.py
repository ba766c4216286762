"""Jobs on a Ray cluster (``deepinfer serve --ray ADDRESS``): each worker process of the server hands its jobs to
a long-lived Ray actor of its own instead of running them itself, with the same pipe protocol towards the job
manager, so the API, progress, cancel and the time limit work as with local workers.

The actor runs the very same job code as a local worker (:class:`~deepinfer.jobs._worker.JobRunner`) in a
scratch folder on its node: the job's input files travel as bytes through Ray's object store, its progress comes
back as a stream of messages (a Ray streaming generator), and its output files (with their provenance and
statistics sidecars) come back as bytes that the worker writes into the job's outputs folder, each atomically.
A job that stores its results into a PACS does that from the server's worker, with the server's allow-list.

Cancel and the time limit stop the worker process, as locally; its actor then dies with it (Ray ends the actors
of an owner that is gone). The networks stay loaded in the actor between jobs.

An actor lost during a job (its process died, its node was lost) is replaced by a new one, which runs the job
again from the start, as a batch retries a case (:func:`~deepinfer.batch.actor_lost`,
:class:`~deepinfer.batch.LostAttempts`: at most :data:`~deepinfer.batch.RAY_RETRIES` more times; Ray's own actor
restarts and task retries stay off, see ``deepinfer.batch._ray``). Each loss goes to the manager as
``("lost", token, line, retrying)``, which records it in the job; after the last attempt the job fails, listing
them. An error of the actor's own code (``RayTaskError``) fails the job at once."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from deepinfer._exceptions import DeepInferError
from deepinfer._files import write_atomic
from deepinfer.jobs._worker import JobRunner, Sender, WorkerOptions, _store, failure

Files = dict[str, list[tuple[str, bytes]]]
"""Input name → (path relative to the input's folder, bytes) of each of its files."""
_ENDS = {"succeeded", "failed"}


class _QueueSender:
    def __init__(self) -> None:
        self.messages: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()

    def send(self, message: Any) -> None:
        self.messages.put(message)


class JobActor:
    """The Ray actor: a :class:`JobRunner` kept between jobs (cards and loaded networks), fed through bytes."""

    def __init__(self, options: WorkerOptions) -> None:
        self.sender = _QueueSender()
        self.runner = JobRunner(self.sender, options)

    def run(self, task: dict[str, Any], files: Files) -> Iterator[tuple[Any, ...]]:
        """The job's messages as they come (progress), the last one with the output files' bytes by name."""
        with tempfile.TemporaryDirectory(prefix="deepinfer-ray-job-") as scratch:
            inputs = {name: _unpack(Path(scratch) / "in" / name, Path(path).name, files[name])
                      for name, path in task["inputs"].items()}  # fmt: skip
            out = Path(scratch) / "out"
            out.mkdir()
            outputs = {name: str(out / Path(path).name) for name, path in task["outputs"].items()}
            shown = {inputs[n]: task["inputs"][n] for n in inputs}
            shown[str(out)] = str(Path(next(iter(task["outputs"].values()))).parent)
            thread = threading.Thread(target=self.runner.run, args=({**task, "inputs": inputs, "outputs": outputs},))
            thread.start()
            while True:
                message = self.sender.messages.get()
                if message[0] not in _ENDS:
                    yield message
                    continue
                thread.join()
                if message[0] == "failed":
                    message = (*message[:3], _unscratch(message[3], shown))
                returned = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
                yield (*message, returned)
                return


def _unpack(root: Path, name: str, files: list[tuple[str, bytes]]) -> str:
    from deepinfer.store import resolve_inside

    root.mkdir(parents=True)
    for relative, data in files:
        target = resolve_inside(root, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return str(root / name)


def _unscratch(message: str, shown: dict[str, str]) -> str:
    for path, original in sorted(shown.items(), key=lambda item: -len(item[0])):
        message = message.replace(path, original)
    return message


def _line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:300]


def _input_files(path: Path) -> list[tuple[str, bytes]]:
    """A job input's files relative to its folder: the upload itself, or every file of a series folder."""
    if path.is_dir():
        return [(os.path.relpath(p, path.parent), p.read_bytes()) for p in sorted(path.rglob("*")) if p.is_file()]
    return [(path.name, path.read_bytes())]


class RayJobs:
    """In a server's worker process: runs each job on this worker's actor and relays its messages."""

    def __init__(self, conn: Sender, options: WorkerOptions, ray: ModuleType | None = None) -> None:
        """``ray``: the Ray module, connected to the cluster at ``options.ray`` (None: connect now)."""
        from deepinfer.batch import connect_ray

        assert options.ray is not None
        self.conn = conn
        self.options = dataclasses.replace(options, ray=None)  # the actor runs its jobs itself
        self.ray = ray or connect_ray(options.ray)
        self.actors: dict[bool, Any] = {}

    def _actor(self, gpu: bool) -> Any:
        if gpu not in self.actors:
            actor_class = self.ray.remote(JobActor).options(
                num_cpus=self.options.threads or 1, num_gpus=1 if gpu else 0, max_restarts=0
            )
            self.actors[gpu] = actor_class.remote(self.options)
        return self.actors[gpu]

    def run(self, task: dict[str, Any]) -> None:
        from deepinfer.batch import LostAttempts, actor_lost
        from deepinfer.card import ModelCard

        token = task["token"]
        gpu = ModelCard.model_validate_json(task["card"]).resources.gpu == "required"
        files = {name: _input_files(Path(path)) for name, path in task["inputs"].items()}
        remote = {key: value for key, value in task.items() if key != "store"}  # stored from here (below)
        lost = LostAttempts()
        attempt = 1
        while True:
            try:
                final = self._attempt(gpu, remote, files)
                break
            except self.ray.exceptions.RayError as error:
                if not actor_lost(self.ray, error):  # the actor's own code failed: running it again changes nothing
                    self.conn.send(("failed", token, "WorkerError", f"the job failed on its Ray actor: {_line(error)}"))
                    return
                self._drop(gpu)
                retrying = lost.add(attempt, error)
                self.conn.send(("lost", token, lost.lines[-1], retrying))
                if not retrying:
                    reason = f"the job's Ray actor was lost on every attempt ({attempt}): {lost}"
                    self.conn.send(("failed", token, "WorkerError", reason))
                    return
                attempt += 1
        *message, returned = final
        if message[0] == "succeeded":
            try:
                self._write(task, returned)
            except DeepInferError as error:
                self.conn.send(("failed", token, type(error).__name__, str(error)))
                return
            except Exception as error:  # as in a local worker: the server log gets the traceback
                traceback.print_exc(file=sys.stderr)
                self.conn.send(("failed", token, *failure(error)))
                return
        self.conn.send(tuple(message))

    def _attempt(self, gpu: bool, task: dict[str, Any], files: Files) -> tuple[Any, ...]:
        """One run of the job on this worker's actor: its progress relayed, its last message returned."""
        stream = self._actor(gpu).run.options(num_returns="streaming").remote(task, files)
        for ref in stream:
            message = self.ray.get(ref)
            if message[0] in _ENDS:
                return tuple(message)
            self.conn.send(message)
        # the actor's own code ended without a last message: a fault there, not a lost actor (no retry)
        return ("failed", task["token"], "WorkerError", "the job's Ray actor ended its stream without a result", {})

    def _drop(self, gpu: bool) -> None:
        """Forget (and kill, should it still run) the actor that was lost; the next attempt starts a new one."""
        actor = self.actors.pop(gpu, None)
        if actor is not None:
            with contextlib.suppress(Exception):  # gone already, most likely
                self.ray.kill(actor, no_restart=True)

    @staticmethod
    def _write(task: dict[str, Any], returned: dict[str, bytes]) -> None:
        """The returned files into the job's outputs folder (sidecars last), then stored into a PACS when the
        job asks for it, from the server (its allow-list and credentials), as a local worker does."""
        folder = Path(next(iter(task["outputs"].values()))).parent
        for name in sorted(returned, key=lambda n: n.endswith((".json", ".csv"))):
            write_atomic(folder / Path(name).name, returned[name])
        if task.get("store"):
            outputs = {name: Path(path) for name, path in task["outputs"].items() if Path(path).is_file()}
            _store(task["store"], outputs)
