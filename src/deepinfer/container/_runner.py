"""Running a ``runtime: container`` card: the inputs go into a per-job work folder, the container runs isolated
(``--rm --network none``, no capabilities, the caller's uid:gid, the card's memory limit, a timeout that kills
and removes it), its log is streamed and its progress lines feed the progress display, and its outputs are read
back, checked (regular files on the input's grid) and returned as volumes; class scores the container wrote are
read as hostile input into the same class scores a pipeline gives (:mod:`deepinfer.container._scores`).

Parameter resolution, output planning, writing and provenance stay in :func:`deepinfer.run.run_model`, which
calls :func:`run_container` in place of the in-process pipeline.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepinfer._exceptions import ContainerError, DeepInferError, UsageError
from deepinfer.card import ClassScoresMember, ContainerRuntime, ModelCard
from deepinfer.container._argv import JobFolder, command_argv, mount_options, run_options
from deepinfer.container._engine import JOB_LABEL, ContainerEngine, ContainerJob, detect_engine
from deepinfer.container._gpu import GPU_VARIABLE, gpu_device, nvidia_gpu_count
from deepinfer.container._orphans import JOB_PREFIX, Owner, prune_orphans, work_roots, write_owner
from deepinfer.container._protocol import LineSplitter
from deepinfer.container._scores import read_container_scores
from deepinfer.container._signals import SignalExit, exit_on_signals
from deepinfer.imaging import Geometry, Volume, read_volume, write_volume
from deepinfer.pipeline import ClassScores

TIMEOUT_VARIABLE = "DEEPINFER_CONTAINER_TIMEOUT"
GEOMETRY_TOLERANCE = 1e-4  # mm and direction cosines: what a decimal header written by another tool keeps
_DETACHED_DATA = re.compile(rb"^\s*data ?file\s*:", re.IGNORECASE | re.MULTILINE)
_HEADER_BYTES = 1 << 16


def _ignore(line: str) -> None:
    return None


@dataclass
class ContainerOptions:
    """How to run containers: the engine (None: detected), a timeout overriding the card's, the GPU choice
    (``all``, an index or ``none``; None: all when the card wants one), the uid:gid the container runs as (None:
    the caller's), where the container's log lines go, and the GPU probe (a seam for tests)."""

    engine: ContainerEngine | None = None
    timeout_s: float | None = None
    gpu: str | None = None
    user: tuple[int, int] | None = None
    log: Callable[[str], None] = _ignore
    gpu_count: Callable[[], int] = nvidia_gpu_count
    work_root: Path | None = None

    @classmethod
    def from_environment(cls, log: Callable[[str], None] | None = None) -> ContainerOptions:
        """Options from ``DEEPINFER_CONTAINER_ENGINE``, ``DEEPINFER_GPU`` and ``DEEPINFER_CONTAINER_TIMEOUT``."""
        timeout = os.environ.get(TIMEOUT_VARIABLE)
        seconds: float | None = None
        if timeout:
            try:
                seconds = float(timeout)
            except ValueError:
                seconds = -1.0
            if not 0 < seconds < float("inf"):
                raise UsageError(f"{TIMEOUT_VARIABLE}={timeout!r}: give the timeout in seconds, e.g. 600")
        return cls(timeout_s=seconds, gpu=os.environ.get(GPU_VARIABLE) or None, log=log or _ignore)


@dataclass(frozen=True)
class ContainerResult:
    """What a container computed: image outputs on the first input's grid, and class-score outputs."""

    volumes: dict[str, Volume]
    scores: dict[str, ClassScores] = field(default_factory=dict)


def run_container(
    card: ModelCard,
    volumes: Mapping[str, Volume],
    values: Mapping[str, Any],
    wanted: Sequence[str],
    options: ContainerOptions,
    progress: Callable[[str, int, int], None],
) -> ContainerResult:
    """Run ``card``'s container on ``volumes`` with parameter ``values``; the ``wanted`` outputs: volumes on the
    first input's grid, class scores as the pipeline's."""
    runtime = card.runtime
    if not isinstance(runtime, ContainerRuntime):
        raise UsageError(f"{card.ref} does not run in a container")
    device = gpu_device(card.ref, runtime.gpu, options.gpu, options.gpu_count)
    engine = options.engine or detect_engine()
    engine.check()
    _check_image(engine, card, runtime)
    user = options.user or (os.getuid(), os.getgid())
    reference = volumes[card.inputs[0].name].geometry
    _remove_orphans(engine, options)
    name = f"deepinfer-{uuid.uuid4().hex[:16]}"
    folder = _job_folder(options.work_root, user, options.log)
    with _say_if_stopped(card.ref, name), exit_on_signals(), folder as job:
        for member, volume in volumes.items():
            write_volume(volume, job.input_file(member), compress=False)
            job.input_file(member).chmod(0o644)
        engine_options = [
            *run_options(card, name, JOB_LABEL),
            *(item for label, value in Owner.current().labels().items() for item in ("--label", f"{label}={value}")),
            *engine.user_options(*user),
            *(engine.gpu_options(device) if device is not None else []),
            *mount_options(runtime, job, list(volumes)),
        ]
        timeout = options.timeout_s or float(runtime.timeout_s)
        command = tuple(command_argv(card, runtime, values))
        spec = ContainerJob(name, runtime.image, tuple(engine_options), command, timeout)
        lines = LineSplitter(progress, options.log)
        progress("container", 0, 1)
        code = engine.run(spec, lines)
        if code is None:
            raise ContainerError(
                f"{card.ref}: the container ran longer than {timeout:g} s and was stopped and removed; "
                f"its last lines:\n{lines.last_lines()}"
            )
        if code != 0:
            raise ContainerError(
                f"{card.ref}: the container ({runtime.image}) failed with exit code {code}; "
                f"its last lines:\n{lines.last_lines()}"
            )
        progress("container", 1, 1)
        members = {m.name: m for m in card.outputs if isinstance(m, ClassScoresMember) and m.name in wanted}
        return ContainerResult(
            {output: _read_output(card, job, output, reference) for output in wanted if output not in members},
            {name: read_container_scores(card.ref, m, job.outputs, reference) for name, m in members.items()},
        )


@contextlib.contextmanager
def _say_if_stopped(ref: str, name: str) -> Iterator[None]:
    """After a stop signal (or Ctrl-C) and the cleanup it caused, one line on stderr saying what happened."""
    try:
        yield
    except (SignalExit, KeyboardInterrupt) as stop:
        cause = stop.signal_name if isinstance(stop, SignalExit) else "SIGINT"
        _tell(f"deepinfer: {ref} stopped by {cause}; its container {name} and work folder were removed")
        raise


def _tell(line: str) -> None:
    """One line on stderr, whatever the progress display does (the process is about to end)."""
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _remove_orphans(engine: ContainerEngine, options: ContainerOptions) -> None:
    """Remove the containers and work folders of deepinfer processes that were killed (SIGKILL) on this host."""
    try:
        removed, problems = prune_orphans(engine, work_roots([options.work_root]))
    except DeepInferError as error:  # the run itself will say what is wrong with the engine
        options.log(f"warning: could not look for orphaned containers: {error}")
        return
    for leftover in removed:
        options.log(f"removed the orphaned {leftover}")
    for problem in problems:
        options.log(f"warning: could not remove an orphan: {problem}")


def _check_image(engine: ContainerEngine, card: ModelCard, runtime: ContainerRuntime) -> None:
    """A local image id cannot be pulled: say so before starting anything (repo@digest images are pulled)."""
    if runtime.image.startswith("sha256:") and engine.image_id(runtime.image) is None:
        raise ContainerError(
            f"{card.ref}: the image {runtime.image} is not on this machine; a local image id cannot be pulled "
            "(build it with deepinfer package build, or load it)"
        )


@contextlib.contextmanager
def _job_folder(root: Path | None, user: tuple[int, int], log: Callable[[str], None]) -> Iterator[JobFolder]:
    """A private work folder (mode 700) with ``in/`` readable by the container and ``out/`` writable by it."""
    job = JobFolder(Path(tempfile.mkdtemp(prefix=JOB_PREFIX, dir=root)))
    try:
        write_owner(job.root, Owner.current())  # so that a later run can remove the folder if we are killed
        job.inputs.mkdir(mode=0o755)
        job.inputs.chmod(0o755)
        job.outputs.mkdir(mode=0o700)
        if os.geteuid() == 0 and user != (0, 0):
            os.chown(job.outputs, *user)  # a root service running a job for another user
        yield job
    finally:
        shutil.rmtree(job.root, ignore_errors=True)
        if job.root.exists():
            log(f"warning: could not remove the work folder {job.root}")


def _read_output(card: ModelCard, job: JobFolder, name: str, reference: Geometry) -> Volume:
    """One output the container wrote: a regular NRRD file with inline data, on the input's grid."""
    path = job.output_file(name)
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise ContainerError(f"{card.ref}: the container finished but wrote no {name} ({path.name})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ContainerError(f"{card.ref}: the container's {name} is not a regular file (a link?); refused")
    with path.open("rb") as handle:
        header = handle.read(_HEADER_BYTES).split(b"\n\n", 1)[0]
    if _DETACHED_DATA.search(header):
        raise ContainerError(f"{card.ref}: the container's {name} points at a separate data file; refused")
    try:
        volume = read_volume(path)
    except DeepInferError as error:
        raise ContainerError(f"{card.ref}: the container's {name} is not a readable image: {error}") from None
    if not volume.geometry.same_as(reference, tolerance=GEOMETRY_TOLERANCE):
        raise ContainerError(
            f"{card.ref}: the container's {name} is not on the input's grid "
            f"(size {volume.geometry.size} vs {reference.size}, or origin/spacing/direction differ)"
        )
    return Volume(volume.array, reference)
