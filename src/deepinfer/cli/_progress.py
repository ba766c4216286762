"""Progress reporting for the CLI: Rich bars for people, JSON lines for programs (Slicer, scripts)."""

from __future__ import annotations

import enum
import json
import sys
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressMode(enum.StrEnum):
    rich = "rich"
    json = "json"
    none = "none"


class RichProgress:
    """One bar per task name; ``download …`` tasks count bytes, the others count items (windows, steps)."""

    def __init__(self, console: Console) -> None:
        self._bytes = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._items = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, tuple[Progress, TaskID]] = {}
        self._console = console

    def __call__(self, task: str, done: int, total: int) -> None:
        if task not in self._tasks:
            bar = self._bytes if task.startswith(("download", "upload")) else self._items
            if not bar.live.is_started:
                bar.start()
            self._tasks[task] = (bar, bar.add_task(task, total=total or None))
        bar, task_id = self._tasks[task]
        bar.update(task_id, completed=done, total=total or None)

    def log(self, line: str) -> None:
        """A log line (e.g. a container's), printed above the bars."""
        self._console.print(line, style="dim", markup=False, highlight=False, soft_wrap=True)

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for bar in (self._bytes, self._items):
            if bar.live.is_started:
                bar.stop()


class JsonProgress:
    """``{"event": "progress", "task": ..., "done": ..., "total": ...}`` lines, one per update, on stderr."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._last: dict[str, int] = {}

    def __call__(self, task: str, done: int, total: int) -> None:
        # Byte counters update very often; report at most every 1 % of a download.
        step = max(total // 100, 1) if task.startswith(("download", "upload")) and total else 1
        if done != total and done - self._last.get(task, -step) < step:
            return
        self._last[task] = done
        line = {"event": "progress", "task": task, "done": done, "total": total}
        self._stream.write(json.dumps(line) + "\n")
        self._stream.flush()

    def log(self, line: str) -> None:
        """A log line as ``{"event": "log", "line": ...}``."""
        self._stream.write(json.dumps({"event": "log", "line": line}) + "\n")
        self._stream.flush()

    def __enter__(self) -> JsonProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None
