"""The line protocol between a model's container and deepinfer.

A container may print, on stdout or stderr, progress lines of the same shape as ``deepinfer run --progress json``::

    {"event": "progress", "task": "sliding window", "done": 3, "total": 12}

``task`` is a short text, ``done`` and ``total`` whole numbers (``total`` 0 when unknown). Such lines feed the
same progress display as an in-process run; every other line is the container's log, streamed to the user and
kept (the last :data:`TAIL_LINES`) for the error message of a failed run. What a container prints is not
trusted: control characters (terminal escapes included) are replaced and lines are cut to a bounded length.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

TAIL_LINES = 20
MAX_TASK = 120
MAX_SHOWN = 1000
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class ProgressLine:
    task: str
    done: int
    total: int


def clean_line(line: str, limit: int = MAX_SHOWN) -> str:
    """A container's line made safe to show: control characters → '?', at most ``limit`` characters."""
    text = _CONTROL.sub("?", line.replace("\t", "    "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_progress(line: str) -> ProgressLine | None:
    """The progress event a line carries, or None when it is a log line."""
    text = line.strip()
    if not text.startswith("{") or '"progress"' not in text:
        return None
    try:
        event = json.loads(text)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("event") != "progress":
        return None
    task, done, total = event.get("task"), event.get("done"), event.get("total")
    counts = all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**53 for n in (done, total))
    if not isinstance(task, str) or not task or not counts:
        return None
    return ProgressLine(clean_line(task, MAX_TASK), int(done), int(total))  # type: ignore[arg-type]


def progress_json(task: str, done: int, total: int) -> str:
    """One progress line of the protocol."""
    return json.dumps({"event": "progress", "task": task, "done": done, "total": total})


@dataclass
class LineSplitter:
    """Routes a container's lines: progress events to ``progress``, the rest (cleaned) to ``log`` and the tail."""

    progress: Callable[[str, int, int], None]
    log: Callable[[str], None]
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))

    def __call__(self, line: str) -> None:
        event = parse_progress(line)
        if event is not None:
            self.progress(event.task, event.done, event.total)
            return
        shown = clean_line(line)
        self.tail.append(shown)
        self.log(shown)

    def last_lines(self) -> str:
        return "\n".join(f"  | {line}" for line in self.tail) or "  (the container printed nothing)"
