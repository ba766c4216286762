"""Stopping cleanly on SIGTERM and SIGHUP while a container runs.

Under the default disposition these signals end the process at once: the container it started keeps running
until its timeout and the work folder (with a copy of the inputs) stays. While :func:`exit_on_signals` is active
they raise :class:`SignalExit` instead, a :class:`SystemExit` with the shell's code (128 + the signal number:
143 for SIGTERM, 129 for SIGHUP), so the ``finally`` blocks on the way out stop and remove the container and
delete the work folder, and the process still ends (``except Exception`` handlers do not swallow it).

Only handlers still at their default are replaced, and only in the main thread (the one place Python runs signal
handlers): a program that handles these signals itself keeps its handling. SIGINT already raises
:class:`KeyboardInterrupt`, which cleans up the same way, and is left alone. A second signal during the cleanup is
ignored so that it cannot cut the cleanup short; the previous handlers come back when the block ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class SignalExit(SystemExit):
    """The process received a stop signal while a container ran; raised after nothing else could run first."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(128 + signal_number)
        self.signal_number = signal_number

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal_number).name


@contextlib.contextmanager
def exit_on_signals() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP (where still at their default) raise :class:`SignalExit`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def stop(number: int, frame: FrameType | None) -> None:
        if received:
            return  # the cleanup of the first one is under way
        received.append(number)
        raise SignalExit(number)

    previous = {}
    for number in STOP_SIGNALS:
        if signal.getsignal(number) is signal.SIG_DFL:
            previous[number] = signal.signal(number, stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
