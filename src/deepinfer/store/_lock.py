"""Advisory file locks (``fcntl.flock``) so that processes sharing one cache fetch each artifact once.

The lock belongs to the open file description, so the kernel releases it when its process dies, SIGKILL
included: a killed download never blocks the next one. Lock files are kept (removing one while another
process waits on it would let a third process lock a different file of the same name).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def _open_lock_file(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created when absent), waiting for other holders."""
    descriptor = _open_lock_file(path)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def lock_if_free(path: Path) -> Iterator[bool]:
    """Try to lock ``path`` without waiting; yields whether the lock is held (False: another holder)."""
    descriptor = _open_lock_file(path)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True
    finally:
        os.close(descriptor)
