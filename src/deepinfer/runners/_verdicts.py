"""The remembered ``auto`` verdicts: which runtime won for one network, input shape, precision and host.

They live in ``<home>/runtimes/choices.json`` (plain JSON, at most :data:`MAX_ENTRIES` entries, never pickle),
keyed by a digest of the artifact's sha256, the input shape, the precision mode, the thread count, the host's
CPU (:func:`~deepinfer.runners._runtimes.host_fingerprint`) and the installed runtimes' versions: a changed
runtime version or another machine sharing the folder measures again. A verdict flagged for a re-check (a run
on its runtime was much slower than the figure it won with) is measured again by the next run.
``deepinfer runtimes list`` shows them and why each runtime won; ``deepinfer runtimes forget`` removes them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deepinfer._files import write_json_atomic
from deepinfer.runners._derived import CONVERTER
from deepinfer.runners._runtimes import (
    RUNTIMES,
    candidates,
    conversion_unavailable,
    host_fingerprint,
    installed,
    runtime_version,
)
from deepinfer.runners._spec import NetworkSpec, Shape
from deepinfer.store import exclusive_lock

CACHE_VERSION = 2  # 2: timed over several rounds after a warm-up; verdicts can be flagged for a re-check
MAX_ENTRIES = 256


def choices_file(home: Path) -> Path:
    return home / "runtimes" / "choices.json"


class ChoiceCache:
    """The verdicts file of one ``home``: read freely, rewritten atomically under a lock."""

    def __init__(self, home: Path) -> None:
        self.path = choices_file(home)

    @staticmethod
    def key(spec: NetworkSpec, shape: Shape) -> str:
        return ChoiceCache._digest(ChoiceCache._facts(spec), shape)

    @staticmethod
    def _facts(spec: NetworkSpec) -> dict[str, Any]:
        """What a verdict depends on besides the input shape."""
        return {
            "artifact": spec.sha256,
            "precision": spec.precision,
            "tolerance": spec.tolerance,
            "threads": spec.threads,
            "host": host_fingerprint(),
            "runtimes": {name: runtime_version(name) for name in candidates(spec.card_type)},
            "converter": CONVERTER,
            "can_convert": conversion_unavailable() is None,  # installing onnx later makes more candidates
            "version": CACHE_VERSION,
        }

    @staticmethod
    def _digest(facts: dict[str, Any], shape: Shape) -> str:
        return hashlib.sha256(json.dumps({**facts, "shape": list(shape)}, sort_keys=True).encode()).hexdigest()

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every stored verdict (key → entry), oldest first; an unreadable or foreign file holds none."""
        try:
            document: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        entries = document.get("entries") if isinstance(document, dict) else None
        if not isinstance(entries, dict) or document.get("version") != CACHE_VERSION:
            return {}
        return {key: entry for key, entry in entries.items() if isinstance(entry, dict)}

    def latest(self, spec: NetworkSpec) -> tuple[Shape, str] | None:
        """The input shape and runtime of the newest verdict measured for ``spec`` that still holds here."""
        facts = self._facts(spec)
        for key, entry in reversed(list(self.entries().items())):
            shape = entry.get("shape")
            if entry.get("artifact") != spec.sha256 or entry.get("precision") != spec.precision:
                continue
            if not isinstance(shape, list) or not all(_positive_int(n) for n in shape):
                continue
            runtime = _usable_runtime(entry)
            if runtime is not None and key == self._digest(facts, tuple(shape)):
                return tuple(shape), runtime
        return None

    def get(self, key: str) -> str | None:
        """The remembered runtime for ``key`` when it is a known, installed runtime and not due for a re-check."""
        return _usable_runtime(self.entries().get(key))

    def put(self, key: str, entry: dict[str, Any]) -> None:
        def store(entries: dict[str, dict[str, Any]]) -> None:
            entries.pop(key, None)
            entries[key] = entry

        self._update(store)

    def flag_for_recheck(self, key: str, seconds: float, figure: float) -> None:
        """Mark ``key``'s verdict to be measured again: a call on its runtime took ``seconds``, where the
        figure it was chosen with was ``figure``."""

        def flag(entries: dict[str, dict[str, Any]]) -> None:
            if key in entries:
                when = datetime.now(UTC).isoformat(timespec="seconds")
                entries[key]["recheck"] = {"seconds": round(seconds, 4), "figure": round(figure, 4), "at": when}

        self._update(flag)

    def forget(self, artifacts: Collection[str] | None = None) -> int:
        """Remove the verdicts of the artifacts whose sha256 is in ``artifacts`` (None: all); how many went."""
        removed = 0

        def drop(entries: dict[str, dict[str, Any]]) -> None:
            nonlocal removed
            for key in [k for k, e in entries.items() if artifacts is None or e.get("artifact") in artifacts]:
                del entries[key]
                removed += 1

        self._update(drop)
        return removed

    def _update(self, change: Callable[[dict[str, dict[str, Any]]], None]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.path.with_suffix(".lock")):
            entries = self.entries()
            change(entries)
            kept = dict(list(entries.items())[-MAX_ENTRIES:])  # insertion order: the oldest go first
            write_json_atomic(self.path, {"version": CACHE_VERSION, "entries": kept}, indent=1)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _usable_runtime(entry: Any) -> str | None:
    """The runtime a verdict names when it is a known runtime installed here and the verdict is not flagged
    for a re-check; else None."""
    if not isinstance(entry, dict) or "recheck" in entry:
        return None
    runtime = entry.get("runtime")
    return runtime if isinstance(runtime, str) and runtime in RUNTIMES and installed(runtime) else None


def describe_verdict(entry: dict[str, Any]) -> str:
    """One line on why a verdict's runtime won: each runtime's best timing, and the ones left out."""
    seconds = _mapping(entry.get("seconds"))
    timed = sorted((float(s), str(n)) for n, s in seconds.items() if isinstance(s, int | float))
    rounds = entry.get("rounds")
    parts = [f"{name} {value:.3g} s" for value, name in timed]
    if len(parts) == 1:
        text = f"the only runtime that could run it ({parts[0]})"
    elif parts:
        text = "fastest of " + ", ".join(parts)
        if isinstance(rounds, int) and rounds > 0:
            text += f" (best of {rounds} timed call(s) each, after a warm-up call)"
    else:
        text = "no timing recorded"
    rejected = _mapping(entry.get("rejected"))
    if rejected:
        text += "; left out: " + "; ".join(f"{name}: {reason}" for name, reason in rejected.items())
    return text


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
