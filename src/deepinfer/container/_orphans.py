"""Leftovers of killed runs: containers and work folders whose deepinfer process is gone.

A SIGKILL (or a crash of the machine's power) gives deepinfer no chance to remove what it started. So every
container it starts carries labels naming its owner (``org.deepinfer.host``, ``org.deepinfer.pid`` and
``org.deepinfer.started``, the pid's start time, so that a reused pid is not taken for the owner), and every work
folder (``deepinfer-job-*``) an ``owner.json`` with the same facts. A container or work folder whose owner was on
this host and is no longer running is an orphan: the next container run and ``deepinfer cache prune`` remove it.

Nothing is removed on a guess: a container or folder with no owner, an owner on another host, or an owner record
that cannot be read is left alone. Folders are examined with ``lstat`` (links are never followed), and only the
caller's own folders (any, for root) are considered.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from deepinfer._exceptions import DeepInferError
from deepinfer.container._engine import JOB_LABEL, ContainerEngine

HOST_LABEL = "org.deepinfer.host"
PID_LABEL = "org.deepinfer.pid"
STARTED_LABEL = "org.deepinfer.started"
JOB_PREFIX = "deepinfer-job-"
OWNER_FILE = "owner.json"
_OWNER_BYTES = 4096
_PROC = Path("/proc")


def _process_facts(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of a process from ``/proc``; None where it cannot be read."""
    try:
        text = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # the command name, in parentheses, may hold spaces
    return (fields[0], fields[19]) if len(fields) > 19 else None


@dataclass(frozen=True)
class Owner:
    """The deepinfer process that started a container or made a work folder."""

    host: str
    pid: int
    started: str = ""  # the pid's start time ("" where /proc is absent: then the pid alone is checked)

    @classmethod
    def current(cls) -> Owner:
        pid = os.getpid()
        facts = _process_facts(pid)
        return cls(socket.gethostname(), pid, facts[1] if facts else "")

    def labels(self) -> dict[str, str]:
        return {HOST_LABEL: self.host, PID_LABEL: str(self.pid), STARTED_LABEL: self.started}

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> Owner | None:
        host, pid = labels.get(HOST_LABEL, ""), labels.get(PID_LABEL, "")
        if not host or not pid.isdigit() or int(pid) <= 0:
            return None
        return cls(host, int(pid), labels.get(STARTED_LABEL, ""))

    def to_json(self) -> str:
        return json.dumps({"host": self.host, "pid": self.pid, "started": self.started})

    @classmethod
    def from_json(cls, text: str) -> Owner | None:
        try:
            record = json.loads(text)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        fields = {HOST_LABEL: "host", PID_LABEL: "pid", STARTED_LABEL: "started"}
        return cls.from_labels({label: str(record.get(key, "")) for label, key in fields.items()})

    def is_gone(self, host: str | None = None) -> bool:
        """True when this owner ran on this host (``host``: its name, default this machine's) and its process has
        ended (a zombie counts as ended) or its pid now belongs to a process started at another time."""
        if self.host != (host or socket.gethostname()):
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # a process of another user holds the pid: the start time decides
        facts = _process_facts(self.pid)
        if facts is None:
            return False
        state, started = facts
        return state == "Z" or bool(self.started and started != self.started)


@dataclass(frozen=True)
class Leftover:
    """An orphan: a container (by name) or a work folder (by path), with the owner that is gone."""

    kind: Literal["container", "work folder"]
    name: str
    owner: Owner

    def __str__(self) -> str:
        return f"{self.kind} {self.name} (its deepinfer process {self.owner.pid} has ended)"


def _orphan_containers(engine: ContainerEngine, host: str | None = None) -> list[Leftover]:
    """The containers deepinfer started whose owner process on this host has ended."""
    found = []
    for name, labels in sorted(engine.labelled(JOB_LABEL).items()):
        owner = Owner.from_labels(labels)
        if owner is not None and owner.is_gone(host):
            found.append(Leftover("container", name, owner))
    return found


def work_roots(extra: Iterable[Path | None] = ()) -> list[Path]:
    """Where work folders are made: the temporary directory, and any other root in use."""
    roots = [Path(tempfile.gettempdir()), *(root for root in extra if root is not None)]
    return list(dict.fromkeys(root.resolve() for root in roots))


def _orphan_folders(roots: Iterable[Path], host: str | None = None) -> list[Leftover]:
    """The ``deepinfer-job-*`` work folders under ``roots`` whose owner process on this host has ended."""
    found = []
    for root in roots:
        try:
            entries = sorted(root.glob(f"{JOB_PREFIX}*"))
        except OSError:
            continue
        for folder in entries:
            owner = _folder_owner(folder)
            if owner is not None and owner.is_gone(host):
                found.append(Leftover("work folder", str(folder), owner))
    return found


def _folder_owner(folder: Path) -> Owner | None:
    """The owner a work folder records, or None (not a real folder of ours, no record, or an unreadable one)."""
    try:
        info = folder.lstat()
        if not stat.S_ISDIR(info.st_mode) or (info.st_uid != os.geteuid() and os.geteuid() != 0):
            return None
        descriptor = os.open(folder / OWNER_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        text = handle.read(_OWNER_BYTES).decode("utf-8", errors="replace")
    return Owner.from_json(text)


def write_owner(folder: Path, owner: Owner) -> None:
    """Record ``owner`` in a new work folder."""
    (folder / OWNER_FILE).write_text(owner.to_json(), encoding="utf-8")


def prune_orphans(
    engine: ContainerEngine | None, roots: Iterable[Path], *, dry_run: bool = False, host: str | None = None
) -> tuple[list[Leftover], list[str]]:
    """Find the orphaned containers (when an engine is given) and work folders and remove them (``dry_run``: only
    find them): (the orphans removed, or found, and a line for each one that could not be removed)."""
    found = [*(_orphan_containers(engine, host) if engine is not None else []), *_orphan_folders(roots, host)]
    if dry_run:
        return found, []
    removed: list[Leftover] = []
    problems: list[str] = []
    for leftover in found:
        try:
            if leftover.kind == "container" and engine is not None:
                engine.remove(leftover.name)
            else:
                shutil.rmtree(leftover.name)
        except (DeepInferError, OSError) as error:
            problems.append(f"{leftover.kind} {leftover.name}: {error}")
            continue
        removed.append(leftover)
    return removed, problems
