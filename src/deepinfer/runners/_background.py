"""A network prepared in a background thread while the pipeline reads and prepares the image.

Preparations run one after another, in the order they were started (the order the pipeline will use the
networks), so that they do not compete with each other for the cores; once the interpreter is exiting, the
ones not yet begun are skipped. (A plain thread rather than ``concurrent.futures``, whose import alone costs
15 ms of every run's start-up.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from deepinfer.pipeline import Network

Prepared = tuple[str, Network]
"""(runtime name, the network it opened and compiled)."""


class Background:
    """The preparation of ``runtime``'s network by ``work()`` in its own thread."""

    _lock = threading.Lock()
    _last: threading.Thread | None = None

    def __init__(self, runtime: str, work: Callable[[], Prepared | None]) -> None:
        self.runtime = runtime
        self._value: Prepared | None = None
        with Background._lock:
            previous = Background._last
            self._thread = threading.Thread(target=self._run, args=(work, previous), name="deepinfer-prepare")
            self._thread.start()  # (raises when no thread can be started: then nothing is chained to it)
            Background._last = self._thread

    def _run(self, work: Callable[[], Prepared | None], previous: threading.Thread | None) -> None:
        if previous is not None:
            previous.join()
        if threading.main_thread().is_alive():  # (not alive: the interpreter waits for this thread to exit)
            self._value = work()

    def result(self, timeout: float | None = None) -> Prepared | None:
        """The prepared (runtime, network), once the work has ended; None if it could not be prepared."""
        self._thread.join(timeout)
        return None if self._thread.is_alive() else self._value

    @classmethod
    def wait_all(cls) -> None:
        """Wait until every preparation started so far has ended (before measuring runtimes against each other)."""
        with cls._lock:
            last = cls._last
        if last is not None:
            last.join()
