"""Log filters of the server: a rate limit for floods of similar lines (a storm of failed accepts wrote 147,209
lines in 13 s), and the access log without ``token=`` values in query strings."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

_TOKEN_QUERY = re.compile(r"((?:^|[?&;])(?:access_)?token=)[^&;#\s]*", re.IGNORECASE)


def scrub_token(text: str) -> str:
    """``/api/jobs?token=s3cret&x=1`` → ``/api/jobs?token=***&x=1``."""
    return _TOKEN_QUERY.sub(r"\1***", text)


class TokenScrubFilter(logging.Filter):
    """For uvicorn's access log, whose record arguments are (client, method, path with query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(scrub_token(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.msg, str):
            record.msg = scrub_token(record.msg)
        return True


class RateLimitFilter(logging.Filter):
    """Lets through at most ``burst`` records of one kind (logger and message template) per ``interval_s``,
    then one line saying the rest of that interval is suppressed; the first record of the next interval says how
    many were."""

    def __init__(self, burst: int = 10, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst, self.interval_s, self.clock = burst, interval_s, clock
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}
        """kind → (start of its interval, records seen in it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, str(record.msg))
        now = self.clock()
        start, seen = self._windows.get(kind, (now, 0))
        if now - start >= self.interval_s:
            suppressed = max(0, seen - self.burst - 1)
            start, seen = now, 0
            if suppressed:
                record.msg = f"{record.msg} ({suppressed} similar line(s) suppressed before this one)"
        seen += 1
        self._windows[kind] = (start, seen)
        if len(self._windows) > 1000:  # many distinct messages: forget the oldest intervals
            for old in sorted(self._windows, key=lambda key: self._windows[key][0])[:500]:
                del self._windows[old]
        if seen <= self.burst:
            return True
        if seen == self.burst + 1:
            record.msg = f"{record.msg} (more similar lines are suppressed for up to {self.interval_s:g} s)"
            return True
        return False
