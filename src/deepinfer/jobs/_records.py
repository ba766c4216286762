"""Job records: the state machine and the row every front end reads (queued → running → succeeded | failed |
cancelled; a running job whose server stopped goes back to queued, or to failed once it has used its attempts)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

JOB_ID = re.compile(r"^[0-9a-f]{32}$")


class JobState(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in {JobState.succeeded, JobState.failed, JobState.cancelled}


@dataclass(frozen=True)
class InputFile:
    """An uploaded input: ``file`` is the name the server gave it, ``filename`` the client's name (display only)."""

    file: str
    filename: str
    bytes: int
    series: str | None = None
    """The SeriesInstanceUID to read when the input holds several DICOM series (a zip), else None."""


@dataclass
class Job:
    id: str
    model: str
    """The card's ``id@version``."""
    parameters: dict[str, Any]
    inputs: dict[str, InputFile]
    outputs: dict[str, str]
    """Output member → file name inside the job's output folder."""
    output_format: str
    state: JobState = JobState.queued
    progress: float = 0.0
    message: str = "queued"
    task: str = ""
    done: int = 0
    total: int = 0
    error_kind: str | None = None
    error: str | None = None
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    attempts: int = 0
    token: str | None = None
    """Names one attempt: events of an older attempt (a cancelled or lost worker) are ignored."""
    timings: dict[str, float] = field(default_factory=dict)
    store: str | None = None
    """A DICOMweb URL (of a PACS the operator allowed) the run's DICOM outputs are stored into after it."""
    retries: int = 0
    """How many times the job ran again on a new Ray actor after the one running it was lost (``serve --ray``)."""
    lost: list[str] = field(default_factory=list)
    """One line per attempt whose Ray actor was lost (``attempt N: its Ray actor was lost (ActorDiedError: ...)``)."""


def overall_progress(previous: float, task: str, done: int, total: int) -> float:
    """Job progress 0–1 from a pipeline progress event: the fraction of the current compute task, never going
    back; downloads (fetching artifacts) show in the message only."""
    if task.startswith("download") or total <= 0:
        return previous
    return max(previous, min(1.0, done / total))


def progress_message(task: str, done: int, total: int) -> str:
    if total <= 0:
        return task
    if task.startswith("download"):
        return f"{task} {100 * done // total}%"
    return f"{task} {done}/{total}"
