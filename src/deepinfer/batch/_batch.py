"""Running a cohort: skip the cases already done, hand the others to long-lived worker processes as they free
up, record each finished case in the manifest, and stop cleanly on Ctrl-C.

A case that fails (bad image, a step that cannot process it, a worker killed for memory) fails alone: its row
says why and the other cases go on. On Ctrl-C (KeyboardInterrupt) the workers are stopped (SIGTERM, then
SIGKILL after a grace period), the staging folders of their unfinished cases removed, and the interrupt goes on
up: the manifest keeps the rows of the cases that finished."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from deepinfer.batch._cases import Case
from deepinfer.batch._layout import DEFAULT_SUFFIX, case_outputs, up_to_date
from deepinfer.batch._manifest import FAILED, SKIPPED, SUCCEEDED, CaseRecord, Manifest
from deepinfer.batch._ray import RAY_RETRIES, RayPool
from deepinfer.batch._sizing import WorkerPlan
from deepinfer.batch._worker import WorkerSetup, worker_main
from deepinfer.card import ModelCard, resolve_parameters
from deepinfer.pipeline import ProgressCallback, no_progress
from deepinfer.run import fetch_artifact
from deepinfer.store import ArtifactStore

STOP_GRACE_S = 3.0
"""How long a worker has to stop after SIGTERM before it is killed."""


@dataclass
class BatchOptions:
    """How a batch runs: output suffix, redo everything (``force``), pictures, runtime and precision; on a Ray
    cluster (``ray``: its address, or ``auto``), whether the inputs travel through Ray's object store
    (``ship_inputs``) and how many times a case whose actor was lost is retried (``retries``)."""

    suffix: str = DEFAULT_SUFFIX
    force: bool = False
    report: bool = False
    runtime: str | None = None
    precision: str | None = None
    ray: str | None = None
    ship_inputs: bool = False
    retries: int = RAY_RETRIES


@dataclass
class BatchResult:
    """The manifest of a finished batch (its rows, its path) and the worker plan it ran with."""

    manifest: Manifest
    plan: WorkerPlan
    records: list[CaseRecord] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return self.manifest.count(FAILED)


def pending_cases(
    card: ModelCard, values: Mapping[str, Any], cases: Sequence[Case], out_dir: Path, options: BatchOptions
) -> tuple[list[Case], list[CaseRecord]]:
    """The cases to run, and a ``skipped`` record for each case already done with this model and parameters."""
    todo, skipped = [], []
    for case in cases:
        outputs = case_outputs(card, out_dir, case, options.suffix)
        if not options.force and up_to_date(card, values, case, outputs, options.report):
            skipped.append(CaseRecord(case.case_id, case.inputs, SKIPPED, outputs))
        else:
            todo.append(case)
    return todo, skipped


def run_batch(
    card: ModelCard,
    cases: Sequence[Case],
    out_dir: Path,
    params: Mapping[str, Any] | None,
    plan: WorkerPlan,
    *,
    card_dir: Path | None = None,
    options: BatchOptions | None = None,
    on_case: Callable[[CaseRecord], None] = lambda record: None,
    progress: ProgressCallback = no_progress,
) -> BatchResult:
    """Run ``card`` on every case not already done into ``out_dir``; ``on_case`` hears of each finished case
    (skipped ones first), ``progress`` of artifact downloads (fetched once, before the workers start)."""
    options = options or BatchOptions()
    values = resolve_parameters(card, params)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(out_dir, [case.case_id for case in cases])
    todo, skipped = pending_cases(card, values, cases, out_dir, options)
    result = BatchResult(manifest, plan)

    def finished(record: CaseRecord) -> None:
        manifest.add(record)
        result.records.append(record)
        on_case(record)

    manifest.write()
    for record in skipped:
        finished(record)
    if todo:
        if card.runtime.type != "container":
            store = ArtifactStore()
            for artifact in card.artifacts:
                if not _is_example(card, artifact.name):
                    fetch_artifact(store, card, artifact.name, card_dir, progress)
        pilot = _choice_to_make(card, options.runtime)
        if options.ray is not None:
            _ray_pool(card, card_dir, values, plan, options, pilot).run(card, todo, out_dir, options.suffix, finished)
        else:
            setup = WorkerSetup(
                card.model_dump_json(),
                str(card_dir) if card_dir else None,
                dict(values),
                plan.threads,
                options.runtime,
                options.precision,
                options.report,
            )
            pool = _Pool(setup, min(plan.workers, len(todo)), pilot=pilot)
            pool.run(card, todo, out_dir, options.suffix, finished)
    return result


def _ray_pool(
    card: ModelCard, card_dir: Path | None, values: Mapping[str, Any], plan: WorkerPlan, options: BatchOptions,
    pilot: bool,
) -> RayPool:  # fmt: skip
    """The actors of a batch on Ray. The runtime and precision asked for are settled here, on the driver: the
    actors' nodes have environments of their own."""
    from deepinfer.runners import PRECISION_VARIABLE, requested_runtime

    assert options.ray is not None
    setup = WorkerSetup(
        card.model_dump_json(),
        str(card_dir.resolve()) if card_dir else None,
        dict(values),
        plan.threads,
        requested_runtime(options.runtime),
        options.precision or os.environ.get(PRECISION_VARIABLE) or "exact",
        options.report,
    )
    return RayPool(
        card, setup, plan, address=options.ray, ship=options.ship_inputs, retries=options.retries, pilot=pilot
    )


def _choice_to_make(card: ModelCard, runtime: str | None) -> bool:
    """Whether the workers' runtime is chosen by measuring (``auto``): then one case runs alone first, so that
    the choice is measured once, on a quiet machine, and every worker then runs the remembered runtime (several
    workers measuring at once would slow each other down and could each choose differently)."""
    from deepinfer.runners import AUTO, requested_runtime

    return card.runtime.type != "container" and requested_runtime(runtime) == AUTO


def _is_example(card: ModelCard, name: str) -> bool:
    return any(name in (*e.inputs.values(), *e.expected.values()) for e in card.examples)


class _Worker:
    def __init__(self, context: Any, setup: WorkerSetup) -> None:
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=worker_main, args=(child, setup, os.getpid()), name="deepinfer-batch", daemon=True
        )
        self.process.start()
        child.close()
        self.case: Case | None = None
        self.outputs: dict[str, Path] = {}
        self.started = 0.0


class _Pool:
    """Long-lived spawned workers fed one case at a time as each finishes its last. With ``pilot``, the others
    wait until one case has succeeded alone."""

    def __init__(self, setup: WorkerSetup, size: int, pilot: bool = False) -> None:
        self.setup = setup
        self.pilot = pilot
        self.context = multiprocessing.get_context("spawn")
        self.workers = [_Worker(self.context, setup) for _ in range(size)]

    def run(
        self, card: ModelCard, todo: Sequence[Case], out_dir: Path, suffix: str, done: Callable[[CaseRecord], None]
    ) -> None:
        queue = deque(todo)
        try:
            while queue or any(w.case for w in self.workers):
                for worker in self.workers:
                    alone = self.pilot and any(w.case for w in self.workers)
                    if worker.case is None and queue and not alone:
                        self._assign(worker, queue.popleft(), card, out_dir, suffix)
                busy = [w for w in self.workers if w.case is not None]
                ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
                for worker in busy:
                    if worker.conn in ready or worker.process.sentinel in ready:
                        self._collect(worker, done, replace=bool(queue))
        except BaseException:
            self._stop()
            raise
        self._close()

    def _assign(self, worker: _Worker, case: Case, card: ModelCard, out_dir: Path, suffix: str) -> None:
        worker.case, worker.started = case, time.perf_counter()
        worker.outputs = case_outputs(card, out_dir, case, suffix)
        next(iter(worker.outputs.values())).parent.mkdir(parents=True, exist_ok=True)
        inputs = {name: str(path) for name, path in case.inputs.items()}
        worker.conn.send((case.case_id, inputs, {name: str(path) for name, path in worker.outputs.items()}))

    def _collect(self, worker: _Worker, done: Callable[[CaseRecord], None], replace: bool) -> None:
        case = worker.case
        assert case is not None
        try:
            message = worker.conn.recv() if worker.conn.poll() else None
        except (EOFError, OSError):
            message = None
        if message is None:  # the worker died in the case (killed for memory, say)
            if worker.process.is_alive():
                return
            worker.process.join()
            code = worker.process.exitcode
            seconds = time.perf_counter() - worker.started
            error = f"the worker process died during this case (exit code {code}; out of memory?)"
            record = CaseRecord(case.case_id, case.inputs, FAILED, seconds=seconds, error=error)
            _remove_staging(worker.outputs)
            self.workers.remove(worker)
            if replace:
                self.workers.append(_Worker(self.context, self.setup))
        else:
            status, _, seconds, peak, detail = message
            if status == SUCCEEDED:
                self.pilot = False
                record = CaseRecord(case.case_id, case.inputs, SUCCEEDED, worker.outputs, seconds, peak, "", detail)
            else:
                record = CaseRecord(case.case_id, case.inputs, FAILED, {}, seconds, peak, detail)
                _remove_if_empty(next(iter(worker.outputs.values())).parent)
        worker.case = None
        done(record)

    def _close(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in self.workers:
            worker.process.join(STOP_GRACE_S)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()

    def _stop(self) -> None:
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in self.workers:
            worker.process.join(max(deadline - time.monotonic(), 0.0))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            if worker.case is not None:
                _remove_staging(worker.outputs)
                _remove_if_empty(next(iter(worker.outputs.values())).parent)


def _remove_staging(outputs: Mapping[str, Path]) -> None:
    """Remove what a stopped worker's unfinished case left: its hidden staging folders."""
    for folder in {path.parent for path in outputs.values()}:
        for staging in folder.glob(".deepinfer-staging-*"):
            shutil.rmtree(staging, ignore_errors=True)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()
