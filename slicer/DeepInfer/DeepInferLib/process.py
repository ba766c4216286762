"""A deepinfer CLI process running in the background, polled from the GUI thread.

Pure Python: no Qt, no MRML. Reader threads turn the CLI's stderr into events (its ``--progress json`` lines
and its messages); the widget polls with a timer, so the GUI never waits on the process. ``cancel()`` ends the
process and its children (``pull`` may run ``pip download``) as a process group.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from .commands import exit_meaning


@dataclass(frozen=True)
class Progress:
    """One ``{"event": "progress", "task": ..., "done": ..., "total": ...}`` line of the CLI."""

    task: str
    done: int
    total: int

    @property
    def fraction(self) -> float | None:
        return min(self.done / self.total, 1.0) if self.total > 0 else None

    def text(self) -> str:
        if self.task.startswith("download") and self.total:
            return f"{self.task}: {self.done / 1e6:.1f} / {self.total / 1e6:.1f} MB"
        return f"{self.task}: {self.done} / {self.total}" if self.total else self.task


@dataclass(frozen=True)
class Message:
    """A stderr line that is not a progress line (a result line, a warning, the error)."""

    text: str


@dataclass
class Outcome:
    """How a process ended."""

    returncode: int
    stdout: str
    messages: list[str]
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.cancelled

    @property
    def error(self) -> str:
        """The CLI's own error message (its ``error:`` lines, or click's ``Error:`` line), else all it said."""
        if self.ok:
            return ""
        if self.cancelled:
            return "Cancelled."
        picked = [m for m in self.messages if m.lower().startswith("error:")]
        lines = picked or self.messages or [f"deepinfer ended with exit code {self.returncode}"]
        text = "\n".join(line.split(":", 1)[1].strip() if line.lower().startswith("error:") else line for line in lines)
        return f"{exit_meaning(self.returncode).capitalize()}: {text}"

    def json(self) -> Any:
        return json.loads(self.stdout)


def parse_line(line: str) -> Progress | Message | None:
    text = line.rstrip("\r\n")
    if not text.strip():
        return None
    if text.startswith("{"):
        try:
            event = json.loads(text)
        except ValueError:
            return Message(text)
        if isinstance(event, dict) and event.get("event") == "progress":
            return Progress(str(event.get("task", "")), int(event.get("done", 0)), int(event.get("total", 0)))
    return Message(text)


class CliProcess:
    """Start with :meth:`start`; call :meth:`poll` from the GUI thread; :meth:`cancel` ends it."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self.argv = list(argv)
        self._env = dict(env) if env is not None else None
        self._events: queue.Queue[Progress | Message] = queue.Queue()
        self._stdout: list[str] = []
        self._messages: list[str] = []
        self._threads: list[threading.Thread] = []
        self._process: subprocess.Popen[str] | None = None
        self._cancelled = False
        self.last_progress: Progress | None = None
        self.outcome: Outcome | None = None

    def start(self) -> CliProcess:
        options: dict[str, Any] = {}
        if sys.platform == "win32":
            options["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW
        else:
            options["start_new_session"] = True  # its own process group: cancel reaches pip and friends too
        self._process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
            env=self._env,
            **options,
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(self._process.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self._process.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def _read_stdout(self, stream: IO[str]) -> None:
        for chunk in iter(lambda: stream.read(65536), ""):
            self._stdout.append(chunk)

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            event = parse_line(line)
            if event is not None:
                self._events.put(event)

    @property
    def running(self) -> bool:
        return self._process is not None and self.outcome is None

    def poll(self) -> list[Progress | Message]:
        """The events since the last call (never blocks); sets :attr:`outcome` once the process has ended."""
        events = self._drain()
        if self._process is not None and self.outcome is None and self._process.poll() is not None:
            for thread in self._threads:
                thread.join(timeout=5)  # the pipes are at EOF once the process has exited
            events += self._drain()
            self.outcome = Outcome(self._process.returncode, "".join(self._stdout), self._messages, self._cancelled)
        return events

    def _drain(self) -> list[Progress | Message]:
        events: list[Progress | Message] = []
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return events
            if isinstance(event, Progress):
                self.last_progress = event
            else:
                self._messages.append(event.text)
            events.append(event)

    def cancel(self, grace: float = 3.0) -> None:
        """End the process and its children: a polite signal, then a kill after ``grace`` seconds."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        self._cancelled = True
        _signal_group(process, kill=False)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(process, kill=True)
            process.wait(timeout=grace)

    def wait(
        self,
        timeout: float | None = None,
        on_event: Callable[[Progress | Message], None] | None = None,
        interval: float = 0.05,
    ) -> Outcome:
        """Poll until the process ends (scripts and tests; the GUI polls from a timer instead)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            for event in self.poll():
                if on_event is not None:
                    on_event(event)
            if self.outcome is not None:
                return self.outcome
            if deadline is not None and time.monotonic() > deadline:
                self.cancel()
                raise TimeoutError(f"deepinfer did not finish within {timeout} s: {' '.join(self.argv[:4])} ...")
            time.sleep(interval)


def _signal_group(process: subprocess.Popen[str], kill: bool) -> None:
    try:
        if os.name == "nt":
            if kill:
                subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True, check=False)
            else:
                process.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
        else:
            os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass


def run_to_completion(
    argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float | None = None
) -> Outcome:
    return CliProcess(argv, env).start().wait(timeout)


@dataclass
class Task:
    """A background CLI process and what to do with its outcome (runs in the GUI thread, from :meth:`poll`).

    ``finish`` gets the :class:`Outcome` and returns the task's result (e.g. the imported nodes); an
    exception it raises becomes the task's error, so one message reaches the status area either way.
    """

    process: CliProcess
    finish: Callable[[Outcome], Any] = field(default=lambda outcome: outcome)
    cleanup: Callable[[], None] | None = None
    result: Any = None
    error: str = ""
    done: bool = False

    def poll(self) -> list[Progress | Message]:
        events = self.process.poll()
        outcome = self.process.outcome
        if outcome is not None and not self.done:
            try:
                if outcome.ok:
                    self.result = self.finish(outcome)
                else:
                    self.error = outcome.error
            except Exception as error:  # shown in the status area, never swallowed silently
                self.error = f"{type(error).__name__}: {error}" if not str(error) else str(error)
            finally:
                self.done = True
                if self.cleanup is not None:
                    self.cleanup()
        return events

    def cancel(self) -> None:
        self.process.cancel()

    def wait(self, timeout: float | None = None, interval: float = 0.05) -> Task:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done:
            self.poll()
            if deadline is not None and time.monotonic() > deadline and not self.done:
                self.cancel()
                self.poll()
                raise TimeoutError(f"task did not finish within {timeout} s")
            if not self.done:
                time.sleep(interval)
        return self

    @property
    def progress(self) -> Progress | None:
        return self.process.last_progress

    @property
    def running(self) -> bool:
        return not self.done
