"""The one exception tree of deepinfer.

Every error a user can cause derives from :class:`DeepInferError` and carries an ``exit_code`` the CLI uses:
0 ok, 2 usage, 3 bad input, 4 integrity failure, 1 anything else.

    DeepInferError
    ├── UsageError            (2)  wrong command line or parameter value
    │   └── ModelNotFoundError     no card with that id / version in any registry
    ├── InputError            (3)  an input file is missing, unreadable, not an image, wrong shape, NaN, ...
    ├── CardError             (3)  a model card fails validation (carries the list of problems)
    ├── IntegrityError        (4)  an artifact's sha256 or size differs from the card
    ├── FetchError            (1)  an artifact could not be downloaded or extracted
    ├── RuntimeUnavailableError (1) a runtime (torch, CUDA, ...) is not installed
    ├── PipelineError         (1)  a pipeline step failed on valid input
    │   └── ContainerError         a model's container failed, timed out or wrote no (or a wrong) output
    ├── ServerError           (1)  a deepinfer server could not be reached, refused the request or lost the job
    │   └── QueueFullError         the server's job queue is full (HTTP 503, try again later)
    └── StorageError          (1)  the disk (or the server's jobs database) is full or cannot be written
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class DeepInferError(Exception):
    """Root of every error deepinfer raises on purpose."""

    exit_code = 1


class UsageError(DeepInferError):
    exit_code = 2


class ModelNotFoundError(UsageError):
    pass


class InputError(DeepInferError):
    """Bad input data; the message names the file and the problem."""

    exit_code = 3


@dataclass(frozen=True)
class Problem:
    """One validation problem: where (a JSON path such as ``$.inputs[0].labels``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class CardError(DeepInferError):
    exit_code = 3

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n{lines}")


class IntegrityError(DeepInferError):
    exit_code = 4


class FetchError(DeepInferError):
    pass


class RuntimeUnavailableError(DeepInferError):
    pass


class PipelineError(DeepInferError):
    pass


class ContainerError(PipelineError):
    """A container run failed: non-zero exit (the message ends with its last log lines), timeout, bad output."""


class ServerError(DeepInferError):
    """A deepinfer server could not be reached, refused a request, or its job failed there."""


class QueueFullError(ServerError):
    """The server's bounded job queue is full; ``retry_after`` seconds is its hint."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageError(DeepInferError):
    """The disk or the server's jobs database is full or failing (HTTP 507); the message says what to free."""


__all__ = [
    "CardError",
    "ContainerError",
    "DeepInferError",
    "FetchError",
    "InputError",
    "IntegrityError",
    "ModelNotFoundError",
    "PipelineError",
    "Problem",
    "QueueFullError",
    "RuntimeUnavailableError",
    "ServerError",
    "StorageError",
    "UsageError",
]
