"""A batch worker process (spawned): loads the card's networks once, keeps them, and runs one case at a time
through :func:`deepinfer.run.run_model` (:class:`CaseRunner`, which the Ray actors run too).

It talks to the batch over its own pipe: it receives ``(case id, inputs, outputs)`` tuples (None: stop) and sends
``("succeeded", case id, seconds, peak bytes, warnings)`` or ``("failed", case id, seconds, peak bytes, error)``.
Ctrl-C is the batch's to handle (the worker ignores SIGINT); SIGTERM stops a case cleanly where Python can (its
staged outputs are removed); the worker dies with the batch (Linux parent-death signal)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import Any

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerSetup:
    """What every worker of a batch shares: the card (JSON), its folder, the parameter values and run options."""

    card_json: str
    card_dir: str | None
    values: dict[str, Any]
    threads: int
    runtime: str | None = None
    precision: str | None = None
    report: bool = False


def worker_main(conn: Connection, setup: WorkerSetup, parent_pid: int) -> None:
    """Entry point of a worker process."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop)
    runner = CaseRunner(setup)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        conn.send(runner.run(*task))


class CaseRunner:
    """Runs the cases of one batch in this process, one at a time, keeping the card's networks loaded between
    them: the part a local worker process and a Ray actor share."""

    def __init__(self, setup: WorkerSetup) -> None:
        _limit_image_threads(setup.threads)
        from deepinfer.card import ModelCard
        from deepinfer.run import fetch_artifact
        from deepinfer.runners import card_network_cache
        from deepinfer.store import ArtifactStore

        self.setup = setup
        self.card = ModelCard.model_validate_json(setup.card_json)
        self.folder = Path(setup.card_dir) if setup.card_dir else None
        store = ArtifactStore()
        card, folder = self.card, self.folder
        self.networks = card_network_cache(  # loaded on the first case, kept for the others
            card,
            lambda name: fetch_artifact(store, card, name, folder),
            setup.threads,
            runtime=setup.runtime,
            precision=setup.precision,
            home=store.home,
        )

    def run(self, case_id: str, inputs: dict[str, str], outputs: dict[str, str]) -> tuple[Any, ...]:
        """Run one case: ``("succeeded", case id, seconds, peak bytes, warnings)`` or ``("failed", case id,
        seconds, peak bytes, error)``; a failure of this case never raises."""
        from deepinfer._exceptions import DeepInferError
        from deepinfer.run import run_model

        _reset_peak_memory()
        started = time.perf_counter()
        try:
            result = run_model(
                self.card,
                {name: Path(path) for name, path in inputs.items()},
                {name: Path(path) for name, path in outputs.items()},
                self.setup.values,
                card_dir=self.folder,
                threads=self.setup.threads,
                report=self.setup.report,
                networks=self.networks,
            )
        except DeepInferError as error:
            return ("failed", case_id, time.perf_counter() - started, peak_memory(), str(error))
        except Exception as error:  # a library failure on this case: it fails alone, the message says what
            message = f"{type(error).__name__}: {error}"
            return ("failed", case_id, time.perf_counter() - started, peak_memory(), message)
        return ("succeeded", case_id, time.perf_counter() - started, peak_memory(), tuple(result.warnings))


def _limit_image_threads(threads: int) -> None:
    """Give SimpleITK's filters (reading, resampling, connected components) the worker's share of the cores, as
    the networks get it: ITK's default is every core, so N workers would each run N-way filters at once."""
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(threads)  # read when SimpleITK is first imported
    sitk = sys.modules.get("SimpleITK")
    if sitk is not None:  # already imported in this process (a Ray worker that ran other tasks)
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the batch ended before the signal was armed
        os._exit(0)


def _reset_peak_memory() -> None:
    """Start this process's peak resident memory (VmHWM) afresh, so that it measures the next case (Linux)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")


def peak_memory() -> int | None:
    """This process's peak resident memory in bytes since the last reset (Linux ``VmHWM``), or None."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
