"""A batch on a Ray cluster (``deepinfer batch --ray ADDRESS``): one long-lived actor per worker slot runs the
same :class:`~deepinfer.batch._worker.CaseRunner` as a local worker process, keeping the card's networks loaded.

Cases go to the actors as they free up. Each actor asks for ``threads`` CPUs, the case's estimated memory (Ray's
``memory`` resource) and one GPU when the card requires one. An actor reads a case's inputs from the paths the
driver gives (a folder every node sees), or, with ``ship_inputs``, from the bytes the driver put in Ray's object
store; it writes the outputs into a scratch folder of its own and returns their bytes, which the driver writes
into ``OUT/<case id>/`` (each file atomically, the provenance sidecars last so that a case cut short is redone).

When an actor dies during a case (its node lost, its process killed), the case goes back to the front of the
queue and runs again on another actor, up to ``retries`` more times; the manifest's ``attempts`` column says how
many times it started, and its ``error`` column what became of the lost attempts. A replacement actor is started
for the dead one; it takes cases once the cluster has placed it.

The retry is this module's, not Ray's: the actors have ``max_restarts=0`` and their tasks ``max_task_retries=0``
(Ray's defaults). Ray's own task retry is invisible to the caller (nothing could record the lost attempt), and a
server job's progress stream could not be replayed by it (a streaming task retried by Ray must yield the same
number of items; progress is throttled by time). :class:`LostAttempts` and :func:`actor_lost` are shared with the
server's jobs on Ray (``deepinfer serve --ray``), so both retry the same way, :data:`RAY_RETRIES` times."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from deepinfer._exceptions import DeepInferError, UsageError
from deepinfer._files import write_atomic
from deepinfer.batch._cases import Case
from deepinfer.batch._layout import case_outputs
from deepinfer.batch._manifest import FAILED, SUCCEEDED, CaseRecord
from deepinfer.batch._sizing import WorkerPlan
from deepinfer.batch._worker import CaseRunner, WorkerSetup
from deepinfer.card import ModelCard

RAY_INSTALL = "pip install 'deepinfer[ray]'"
RAY_RETRIES = 2
"""How many more times a case (or a server job) runs when the Ray actor running it is lost: 1 + 2 attempts."""
PLACEMENT_TIMEOUT_S = 300.0
"""How long a batch waits for the cluster to place at least one actor before the remaining cases fail."""
_SIDECARS = (".provenance.json", ".statistics.json", ".statistics.csv")
Shipped = dict[str, list[tuple[str, bytes]]]
"""Input name → (path relative to the input's folder, bytes) of every file reading that input opens."""


def import_ray() -> ModuleType:
    """The ``ray`` module, or a :class:`UsageError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError(f"--ray needs Ray, which is not installed: {RAY_INSTALL}") from None
    return ray


def connect_ray(address: str) -> ModuleType:
    """Join the Ray cluster at ``address`` (``auto``: the one this machine belongs to), once per process."""
    ray = import_ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise UsageError(f"cannot join the Ray cluster at {address}: {error}") from None
    return ray


@contextlib.contextmanager
def ray_connection() -> Iterator[None]:
    """Leave the process as the block found it: a Ray connection opened inside is closed at the end, and the
    SIGINT and SIGTERM handlers ``ray.init`` installs are put back (a program that runs a batch and goes on, or a
    test session, keeps its own signal handling)."""
    main = threading.current_thread() is threading.main_thread()
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)} if main else {}
    already = _connected()
    try:
        yield
    finally:
        if not already and _connected():
            sys.modules["ray"].shutdown()
        for number, handler in handlers.items():
            if handler is not None:
                signal.signal(number, handler)


def _connected() -> bool:
    """Whether this process is connected to a Ray cluster (without importing Ray)."""
    ray = sys.modules.get("ray")
    return bool(ray is not None and getattr(ray, "is_initialized", lambda: False)())


def actor_lost(ray: ModuleType, error: BaseException) -> bool:
    """Whether ``error`` (from ``ray.get`` on an actor's task) says that the actor was lost rather than that its
    code failed: the actor died (``RayActorError``: ``ActorDiedError``, ``ActorUnavailableError``), its worker
    process crashed or was killed (``WorkerCrashedError``, ``OutOfMemoryError``), its node was lost
    (``NodeDiedError``, ``ObjectLostError``): every Ray error but ``RayTaskError``, which carries an exception
    raised by the task's own code."""
    errors = ray.exceptions
    return isinstance(error, errors.RayError) and not isinstance(error, errors.RayTaskError)


@dataclass
class LostAttempts:
    """The attempts of one case or job whose Ray actor was lost, one line each, and whether another may start:
    attempt ``n`` lost runs again while ``n <= retries`` (at most ``1 + retries`` attempts)."""

    retries: int = RAY_RETRIES
    lines: list[str] = field(default_factory=list)

    def add(self, attempt: int, error: BaseException) -> bool:
        """Record that attempt ``attempt`` lost its actor with ``error``; True when the work runs again."""
        self.lines.append(f"attempt {attempt}: its Ray actor was lost ({type(error).__name__}: {_first_line(error)})")
        return attempt <= self.retries

    def __str__(self) -> str:
        return "; ".join(self.lines)


def ray_plan(address: str, requested: int | None, cases: int, case_bytes: int, threads: int | None) -> WorkerPlan:
    """Actors for ``cases`` cases on the cluster at ``address``: ``requested`` (None: one per ``threads`` CPUs
    of the cluster), no more than the cases; refused when no node could ever place one."""
    ray = connect_ray(address)
    threads = threads or 1
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    cpus = int(sum(resources.get("CPU", 0) for resources in nodes))
    if not any(r.get("CPU", 0) >= threads and r.get("memory", 0) >= case_bytes for r in nodes):
        raise UsageError(
            f"no node of the Ray cluster at {address} has {threads} CPU(s) and {case_bytes / 2**30:.1f} GiB of "
            "memory for one case (lower --threads, or add a larger node)"
        )
    slots = max(cpus // threads, 1)
    workers = max(min(requested or slots, max(cases, 1)), 1)
    note = ""
    if requested is not None and requested > slots and cases > slots:
        note = f"--workers {requested}: the cluster has {cpus} CPU(s), room for {slots} actor(s) now; the others wait"
    return WorkerPlan(workers, threads, case_bytes, int(sum(r.get("memory", 0) for r in nodes)), note)


class CaseActor:
    """The Ray actor: a :class:`CaseRunner` kept for the whole batch, with inputs and outputs as bytes."""

    def __init__(self, setup: WorkerSetup) -> None:
        self.runner = CaseRunner(setup)

    def ready(self) -> str:
        return f"{os.uname().nodename}:{os.getpid()}"

    def run(
        self, case_id: str, inputs: dict[str, str], shipped: Shipped | None, names: dict[str, str], folder: str
    ) -> tuple[Any, ...]:
        """Run one case (``names``: output → file name; ``folder``: where the driver writes them, named in
        messages); the runner's answer plus the output files' bytes by name (see the module's doc)."""
        with tempfile.TemporaryDirectory(prefix="deepinfer-ray-") as scratch:
            local = _unpack(Path(scratch), inputs, shipped) if shipped is not None else dict(inputs)
            out = Path(scratch) / "out"
            out.mkdir()
            status, _, seconds, peak, detail = self.runner.run(
                case_id, local, {name: str(out / file) for name, file in names.items()}
            )
            shown = {local[name]: inputs[name] for name in inputs} | {str(out): folder}
            if status != SUCCEEDED:
                return (status, case_id, seconds, peak, _unscratch(detail, shown), {})
            files = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
            warnings = tuple(_unscratch(w, shown) for w in detail)
            return (status, case_id, seconds, peak, warnings, files)


def _unpack(scratch: Path, inputs: dict[str, str], shipped: Shipped) -> dict[str, str]:
    """Write the shipped input files under ``scratch``; input name → the local path to read."""
    from deepinfer.store import resolve_inside

    local = {}
    for name, original in inputs.items():
        root = scratch / "in" / name
        root.mkdir(parents=True)
        for relative, data in shipped.get(name, []):
            target = resolve_inside(root, relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        local[name] = str(root / Path(original).name)
    return local


def _unscratch(message: str, shown: dict[str, str]) -> str:
    """``message`` naming the driver's paths instead of the actor's scratch copies."""
    for path, original in sorted(shown.items(), key=lambda item: -len(item[0])):
        message = message.replace(path, original)
    return message


def ship_inputs(case: Case) -> Shipped:
    """Every file reading each of ``case``'s inputs opens (a header's detached data, a DICOM folder's files),
    relative to the input's folder. A file that cannot be listed goes alone: the actor's run says what is wrong."""
    from deepinfer.imaging import image_files

    shipped: Shipped = {}
    for name, path in case.inputs.items():
        try:
            files = image_files(path)
        except (DeepInferError, OSError):
            files = [path] if path.is_file() else []
        base = path.parent
        shipped[name] = [(os.path.relpath(p, base), p.read_bytes()) for p in files]
    return shipped


@dataclass
class _Flight:
    actor: Any
    case: Case
    outputs: dict[str, Path]
    attempt: int
    started: float = field(default_factory=time.perf_counter)


class RayPool:
    """Actors fed one case at a time as each finishes its last, with retries on lost actors. With ``pilot``,
    one case runs alone until it has succeeded (the runtime choice is measured once per node)."""

    def __init__(
        self, card: ModelCard, setup: WorkerSetup, plan: WorkerPlan, *, address: str, ship: bool, retries: int,
        pilot: bool,
    ) -> None:  # fmt: skip
        self.ray = connect_ray(address)
        resources: dict[str, Any] = {"num_cpus": setup.threads, "num_gpus": 1 if needs_gpu(card) else 0}
        if plan.case_bytes:
            resources["memory"] = plan.case_bytes
        self.actor_class = self.ray.remote(CaseActor).options(max_restarts=0, **resources)
        self.setup, self.ship, self.retries, self.pilot = setup, ship, retries, pilot
        self.died_starting = ""
        self.starting: dict[Any, Any] = {}
        self.free: list[Any] = []
        self.running: dict[Any, _Flight] = {}
        self.lost: dict[str, LostAttempts] = {}
        for _ in range(plan.workers):
            self._start_actor()

    def _start_actor(self) -> None:
        actor = self.actor_class.remote(self.setup)
        self.starting[actor.ready.remote()] = actor

    def run(
        self, card: ModelCard, todo: Sequence[Case], out_dir: Path, suffix: str, done: Callable[[CaseRecord], None]
    ) -> None:
        queue: deque[tuple[Case, int]] = deque((case, 1) for case in todo)
        waiting_since = time.monotonic()
        try:
            while queue or self.running:
                while self.free and queue and not (self.pilot and self.running):
                    self._assign(self.free.pop(), *queue.popleft(), card, out_dir, suffix)
                if not (self.free or self.running or self.starting):
                    self._give_up(queue, done, f"every Ray actor of the batch died starting: {self.died_starting}")
                    break
                if not self.free and not self.running and time.monotonic() - waiting_since > PLACEMENT_TIMEOUT_S:
                    self._give_up(
                        queue, done, f"no Ray actor could be placed on the cluster in {PLACEMENT_TIMEOUT_S:.0f} s"
                    )
                    break
                ready, _ = self.ray.wait([*self.running, *self.starting], num_returns=1, timeout=5.0)
                for ref in ready:
                    if ref in self.starting:
                        self._started(ref)
                    else:
                        self._collect(ref, queue, done)
                if self.free or self.running:
                    waiting_since = time.monotonic()
        finally:
            self.close()

    def _assign(self, actor: Any, case: Case, attempt: int, card: ModelCard, out_dir: Path, suffix: str) -> None:
        outputs = case_outputs(card, out_dir, case, suffix)
        inputs = {name: os.path.abspath(path) for name, path in case.inputs.items()}
        shipped = self.ray.put(ship_inputs(case)) if self.ship else None
        names = {name: path.name for name, path in outputs.items()}
        folder = str(next(iter(outputs.values())).parent)
        ref = actor.run.remote(case.case_id, inputs, shipped, names, folder)
        self.running[ref] = _Flight(actor, case, outputs, attempt)

    def _started(self, ref: Any) -> None:
        actor = self.starting.pop(ref)
        try:
            self.ray.get(ref)
        except self.ray.exceptions.RayError as error:  # it died starting: the cases wait for the others
            self.died_starting = f"{type(error).__name__}: {_first_line(error)}"
            return
        self.free.append(actor)

    def _collect(self, ref: Any, queue: deque[tuple[Case, int]], done: Callable[[CaseRecord], None]) -> None:
        flight = self.running.pop(ref)
        errors = self.ray.exceptions
        try:
            status, _, seconds, peak, detail, files = self.ray.get(ref)
        except errors.RayError as error:
            if actor_lost(self.ray, error):  # the actor or its node was lost: retry the case elsewhere
                self._lost(flight, error, queue, done)
            else:  # the actor's own code failed on this case: the case fails
                done(self._record(flight, FAILED, error=_first_line(error)))
                self.free.append(flight.actor)
            return
        self.free.append(flight.actor)
        if status != SUCCEEDED:
            done(self._record(flight, FAILED, seconds=seconds, peak=peak, error=detail))
            return
        try:
            _write_outputs(flight.outputs, files)
        except OSError as error:
            done(self._record(flight, FAILED, seconds=seconds, peak=peak, error=f"writing the outputs: {error}"))
            return
        self.pilot = False
        done(self._record(flight, SUCCEEDED, seconds=seconds, peak=peak, warnings=tuple(detail)))

    def _lost(self, flight: _Flight, error: Exception, queue: deque[tuple[Case, int]], done: Any) -> None:
        case = flight.case
        with contextlib.suppress(Exception):  # already gone, most likely
            self.ray.kill(flight.actor, no_restart=True)
        if self.lost.setdefault(case.case_id, LostAttempts(self.retries)).add(flight.attempt, error):
            queue.appendleft((case, flight.attempt + 1))
        else:
            done(self._record(flight, FAILED))
        if queue or self.running:
            self._start_actor()

    def _record(self, flight: _Flight, status: str, *, seconds: float | None = None, peak: int | None = None,
                error: str = "", warnings: tuple[str, ...] = ()) -> CaseRecord:  # fmt: skip
        case = flight.case
        lost = self.lost.pop(case.case_id, None)
        if status == FAILED and not error:
            error = f"the case's Ray actor was lost on every attempt: {lost}"
        elif lost:
            error = f"{error} (retried after: {lost})" if error else f"retried after: {lost}"
        if seconds is None:
            seconds = time.perf_counter() - flight.started
        outputs = flight.outputs if status == SUCCEEDED else {}
        return CaseRecord(case.case_id, case.inputs, status, outputs, seconds, peak, error, warnings, flight.attempt)

    def _give_up(self, queue: deque[tuple[Case, int]], done: Callable[[CaseRecord], None], error: str) -> None:
        for case, attempt in queue:
            done(CaseRecord(case.case_id, case.inputs, FAILED, error=error, attempts=attempt - 1))
        queue.clear()

    def close(self) -> None:
        """Stop every actor of the batch (they hold networks and memory on their nodes)."""
        for actor in [*self.free, *self.starting.values(), *(flight.actor for flight in self.running.values())]:
            with contextlib.suppress(Exception):  # already gone
                self.ray.kill(actor, no_restart=True)
        self.free.clear()
        self.starting.clear()
        self.running.clear()


def needs_gpu(card: ModelCard) -> bool:
    """Whether the card cannot run without a GPU (its actors then ask Ray for one each)."""
    from deepinfer.card import ContainerRuntime

    container = isinstance(card.runtime, ContainerRuntime) and card.runtime.gpu == "required"
    return card.resources.gpu == "required" or container


def _write_outputs(outputs: dict[str, Path], files: dict[str, bytes]) -> None:
    """The returned files into the case's folder: images first, sidecars last (a rerun redoes a partial case)."""
    folder = next(iter(outputs.values())).parent
    folder.mkdir(parents=True, exist_ok=True)
    for name in sorted(files, key=lambda n: n.endswith(_SIDECARS)):
        write_atomic(folder / Path(name).name, files[name])


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:300]
