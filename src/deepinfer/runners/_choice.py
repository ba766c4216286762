"""Which runtime runs a network: the one asked for, or with ``auto`` the fastest one installed that keeps the
card's accuracy, measured once per model, input shape, precision and host, and remembered.

The choice is made on the network's first real batch (:class:`SelectedNetwork`), because a conversion and a
fair measurement both need a valid input. ``auto`` runs that batch once on every candidate runtime, the card's
own runtime first (its output is the reference); in ``exact`` mode a candidate whose output differs from the
reference by more than the card's tolerance is rejected. The fastest of the rest wins, and its output for
that batch is the one used, so the measurement costs only the other candidates' calls, once.

The verdict goes to ``<home>/runtimes/choices.json`` (plain JSON, at most :data:`MAX_ENTRIES` entries, never
pickle), keyed by a digest of the artifact's sha256, the input shape, the precision, the thread count, the
host's CPU (:func:`~deepinfer.runners._runtimes.host_fingerprint`) and the installed runtimes' versions. A
changed runtime version or another machine sharing the folder measures again.

A verdict also names the input shape it was measured for. When a run opens the network,
:meth:`SelectedNetwork.prepare` loads the runtime of the newest verdict that still holds and compiles for its
shape in a background thread, while the pipeline reads and prepares the image on the other core (compiling
releases the GIL); the first call takes the prepared network when its runtime is the one remembered for the
real shape, and otherwise opens one as before (waiting for every preparation to end before it measures).
Nothing is converted or measured in the background, TorchScript is not prepared (torch sets its thread count
per thread), and a failure there only means the foreground does the work (and reports any error itself).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from deepinfer._exceptions import DeepInferError, IntegrityError, RuntimeUnavailableError
from deepinfer.pipeline import Network
from deepinfer.runners._derived import CONVERTER, Derived, converted_onnx, derived_folder, output_difference
from deepinfer.runners._runtimes import (
    AUTO,
    NATIVE,
    RUNTIMES,
    candidates,
    host_fingerprint,
    installed,
    needs_conversion,
    runtime_version,
)
from deepinfer.store._lock import exclusive_lock

FloatArray = npt.NDArray[np.float32]
Shape = tuple[int, ...]
CACHE_VERSION = 1
MAX_ENTRIES = 256


class Background:
    """The preparation of ``runtime``'s network by ``work()`` in its own thread. Preparations run one after
    another, in the order they were started (the order the pipeline will use the networks), so that they do not
    compete with each other for the cores; once the interpreter is exiting, the ones not yet begun are skipped.
    (A thread rather than ``concurrent.futures``, whose import alone costs 15 ms of every run's start-up.)"""

    _lock = threading.Lock()
    _last: threading.Thread | None = None

    def __init__(self, runtime: str, work: Callable[[], tuple[str, Network] | None]) -> None:
        self.runtime = runtime
        self._value: tuple[str, Network] | None = None
        with Background._lock:
            previous = Background._last
            self._thread = threading.Thread(target=self._run, args=(work, previous), name="deepinfer-prepare")
            self._thread.start()  # (raises when no thread can be started: then nothing is chained to it)
            Background._last = self._thread

    def _run(self, work: Callable[[], tuple[str, Network] | None], previous: threading.Thread | None) -> None:
        if previous is not None:
            previous.join()
        if threading.main_thread().is_alive():  # (not alive: the interpreter waits for this thread to exit)
            self._value = work()

    def result(self, timeout: float | None = None) -> tuple[str, Network] | None:
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


@dataclass(frozen=True)
class NetworkSpec:
    """One card network to open: its verified file and sha256, and how it should run."""

    card_type: str  # the card's runtime type: onnx | torchscript
    path: Path
    sha256: str
    threads: int | None
    precision: str  # exact | fast
    tolerance: float  # exact mode: largest |Δ| allowed against the card's own runtime
    home: Path


@dataclass
class Chosen:
    network: Network
    runtime: str
    how: str  # requested | measured | remembered
    output: FloatArray | None = None  # the network's output on the batch that settled the choice
    measurement: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "precision": compute_precision(self.network), "chosen": self.how}


def compute_precision(network: Network) -> str:
    """The precision a loaded network computes in (``f32`` unless the runtime says otherwise)."""
    return str(getattr(network, "precision", "f32"))


def open_runtime(spec: NetworkSpec, runtime: str, batch: FloatArray, reference: FloatArray | None = None) -> Network:
    """``spec``'s network loaded by ``runtime``; a TorchScript card's network is converted to ONNX first
    (once, checked on ``batch``) for an ONNX runtime."""
    path = spec.path
    if needs_conversion(spec.card_type, runtime):
        path = converted_onnx(spec.home, spec.path, spec.sha256, batch, spec.tolerance, reference)
    return RUNTIMES[runtime].load(path, spec.threads, spec.precision)


class ChoiceCache:
    """The remembered ``auto`` verdicts: one small JSON file, rewritten atomically under a lock."""

    def __init__(self, home: Path) -> None:
        self.path = home / "runtimes" / "choices.json"

    @staticmethod
    def key(spec: NetworkSpec, shape: tuple[int, ...]) -> str:
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
            "version": CACHE_VERSION,
        }

    @staticmethod
    def _digest(facts: dict[str, Any], shape: tuple[int, ...]) -> str:
        return hashlib.sha256(json.dumps({**facts, "shape": list(shape)}, sort_keys=True).encode()).hexdigest()

    def _entries(self) -> dict[str, Any]:
        try:
            document: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        entries = document.get("entries") if isinstance(document, dict) else None
        return entries if isinstance(entries, dict) and document.get("version") == CACHE_VERSION else {}

    def latest(self, spec: NetworkSpec) -> tuple[Shape, str] | None:
        """The input shape and runtime of the newest verdict measured for ``spec`` that still holds here."""
        entries = self._entries()
        facts = self._facts(spec)
        for key, entry in reversed(list(entries.items())):
            if not isinstance(entry, dict) or entry.get("artifact") != spec.sha256:
                continue
            shape = entry.get("shape")
            if entry.get("precision") != spec.precision or not isinstance(shape, list):
                continue
            if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
                continue
            runtime = _usable_runtime(entry)
            if runtime is not None and key == self._digest(facts, tuple(shape)):
                return tuple(shape), runtime
        return None

    def get(self, key: str) -> str | None:
        """The remembered runtime for ``key`` when it is a known, installed runtime; else None."""
        return _usable_runtime(self._entries().get(key))

    def put(self, key: str, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.path.with_suffix(".lock")):
            entries = self._entries()
            entries.pop(key, None)
            entries[key] = entry
            kept = dict(list(entries.items())[-MAX_ENTRIES:])  # insertion order: the oldest go first
            temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.tmp")
            temporary.write_text(json.dumps({"version": CACHE_VERSION, "entries": kept}, indent=1), encoding="utf-8")
            os.replace(temporary, self.path)


def _usable_runtime(entry: Any) -> str | None:
    """The runtime a verdict names when it is a known runtime installed here; else None."""
    runtime = entry.get("runtime") if isinstance(entry, dict) else None
    return runtime if isinstance(runtime, str) and runtime in RUNTIMES and installed(runtime) else None


def measure(spec: NetworkSpec, batch: FloatArray) -> Chosen:
    """Run ``batch`` on every candidate runtime and keep the fastest that meets the accuracy bound."""
    native = NATIVE.get(spec.card_type)
    reference: FloatArray | None = None
    best: Chosen | None = None
    seconds: dict[str, float] = {}
    differences: dict[str, float] = {}
    rejected: dict[str, str] = {}
    for name in candidates(spec.card_type):
        try:
            network = open_runtime(spec, name, batch, reference)
            start = time.perf_counter()
            output = np.asarray(network(batch), dtype=np.float32)
            elapsed = time.perf_counter() - start
        except IntegrityError:
            raise  # a model that reaches outside its folder is refused whichever runtime opens it
        except DeepInferError as error:
            rejected[name] = str(error)
            continue
        if name == native:
            reference = output
        elif reference is not None:
            differences[name] = output_difference(reference, output)
            if spec.precision == "exact" and differences[name] > spec.tolerance:
                rejected[name] = f"max |Δ| {differences[name]:.3g} > {spec.tolerance:g}"
                continue
        seconds[name] = round(elapsed, 4)
        if best is None or elapsed < seconds[best.runtime]:
            best = Chosen(network, name, "measured", output)
    if best is None:
        raise RuntimeUnavailableError(f"no runtime could run {spec.path.name}: {rejected or 'none installed'}")
    best.measurement = {"seconds": seconds, "max_abs_diff": differences, "rejected": rejected}
    return best


def prepare(spec: NetworkSpec, runtime: str, shape: Shape) -> tuple[str, Network] | None:
    """``spec``'s network opened by ``runtime`` and compiled for ``shape`` where the runtime compiles ahead
    (without converting anything); None when that cannot be done without a real input, or fails."""
    if runtime == "torchscript":  # nothing to compile ahead, and torch's thread count is set per thread
        return None
    try:
        path = spec.path
        if needs_conversion(spec.card_type, runtime):
            found = Derived(derived_folder(spec.home), spec.sha256).verified()
            if found is None:
                return None
            path = found
        network = RUNTIMES[runtime].load(path, spec.threads, spec.precision)
        compile_ahead = getattr(network, "prepare", None)
        if compile_ahead is not None:
            compile_ahead(shape)
        return runtime, network
    except Exception:  # the foreground opens the network itself and reports what goes wrong
        return None


def settle(spec: NetworkSpec, runtime: str, batch: FloatArray, early: Background | None = None) -> Chosen:
    """Open the network for ``runtime`` (or choose one for ``auto``) and run ``batch`` on it; ``early`` is a
    network being prepared in the background (:func:`prepare`), used when it is the runtime to run."""
    if runtime != AUTO:
        network = open_runtime(spec, runtime, batch)
        return Chosen(network, runtime, "requested", np.asarray(network(batch), dtype=np.float32))
    cache = ChoiceCache(spec.home)
    key = cache.key(spec, tuple(int(n) for n in batch.shape[1:]))
    remembered = cache.get(key)
    if remembered is not None:
        prepared = early.result() if early is not None and early.runtime == remembered else None
        network = prepared[1] if prepared is not None else open_runtime(spec, remembered, batch)
        return Chosen(network, remembered, "remembered", np.asarray(network(batch), dtype=np.float32))
    Background.wait_all()  # runtimes are timed against each other on a machine not busy compiling
    chosen = measure(spec, batch)
    entry = {
        "runtime": chosen.runtime,
        "precision": spec.precision,
        "compute_precision": compute_precision(chosen.network),
        "shape": list(batch.shape[1:]),
        "artifact": spec.sha256,
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        **chosen.measurement,
    }
    cache.put(key, entry)
    return chosen


class SelectedNetwork:
    """A card network whose runtime is settled on its first call; later calls go straight to that runtime."""

    def __init__(self, spec: NetworkSpec, runtime: str) -> None:
        self.spec = spec
        self.runtime = runtime
        self.chosen: Chosen | None = None
        self.early: Background | None = None

    def prepare(self) -> bool:
        """With ``auto``, start preparing the runtime and input shape remembered for this network (see the
        module notes) in the background; False when nothing is remembered (or it is already running)."""
        if self.runtime != AUTO or self.chosen is not None or self.early is not None:
            return False
        try:
            latest = ChoiceCache(self.spec.home).latest(self.spec)
            if latest is None:
                return False
            shape, runtime = latest
            spec = self.spec
            self.early = Background(runtime, lambda: prepare(spec, runtime, shape))
        except Exception:  # (e.g. no thread can be started): the first call does the work, as without it
            return False
        return True

    def __call__(self, batch: FloatArray) -> FloatArray:
        if self.chosen is None:
            contiguous = np.ascontiguousarray(batch, dtype=np.float32)
            self.chosen = settle(self.spec, self.runtime, contiguous, self.early)
            self.early = None
            output, self.chosen.output = self.chosen.output, None
            assert output is not None
            return output
        return self.chosen.network(batch)

    @property
    def preferred_batch(self) -> int:
        return int(getattr(self.chosen.network, "preferred_batch", 1)) if self.chosen else 1

    def describe(self) -> dict[str, Any]:
        if self.chosen is None:
            return {"runtime": self.runtime, "chosen": "not run"}
        return self.chosen.describe()
