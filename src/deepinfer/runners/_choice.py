"""Which runtime runs a network: the one asked for, or with ``auto`` the fastest one installed that keeps the
card's accuracy, measured once per model, input shape, precision and host (:mod:`._contest`), and remembered
(:mod:`._verdicts`).

The choice is made on the network's first real batch (:class:`SelectedNetwork`), because a conversion and a
fair measurement both need a valid input; the contest's output for that batch is the one used.

A remembered verdict is trusted until a run on its runtime is much slower than the figure it won with: when
the first call takes more than :data:`RECHECK_FACTOR` times the winner's warm-up call in the contest (and at
least :data:`RECHECK_FLOOR_S`), the verdict is flagged and the next run measures again.

A verdict also names the input shape it was measured for. When a run opens the network,
:meth:`SelectedNetwork.prepare` loads the runtime of the newest verdict that still holds and compiles for its
shape in a background thread (:mod:`._background`), while the pipeline reads and prepares the image on the
other core (compiling releases the GIL); the first call takes the prepared network when its runtime is the one
remembered for the real shape, and otherwise opens one as before (waiting for every preparation to end before
it measures). Nothing is converted or measured in the background, TorchScript is not prepared (torch sets its
thread count per thread), and a failure there only means the foreground does the work (and reports any error
itself).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from deepinfer.runners import _contest, _spec
from deepinfer.runners._background import Background, Prepared
from deepinfer.runners._derived import Derived, derived_folder
from deepinfer.runners._runtimes import AUTO, RUNTIMES, needs_conversion
from deepinfer.runners._spec import Chosen, FloatArray, NetworkSpec, Shape, compute_precision
from deepinfer.runners._verdicts import ChoiceCache

RECHECK_FACTOR = 2.0
RECHECK_FLOOR_S = 0.05


def prepare(spec: NetworkSpec, runtime: str, shape: Shape) -> Prepared | None:
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
        network = _spec.open_runtime(spec, runtime, batch)
        return Chosen(network, runtime, "requested", np.asarray(network(batch), dtype=np.float32))
    cache = ChoiceCache(spec.home)
    key = cache.key(spec, tuple(int(n) for n in batch.shape[1:]))
    remembered = cache.get(key)
    if remembered is not None:
        return _remembered(spec, cache, key, remembered, batch, early)
    Background.wait_all()  # runtimes are timed against each other on a machine not busy compiling
    chosen = _contest.measure(spec, batch)
    entry = {
        "runtime": chosen.runtime,
        "precision": spec.precision,
        "compute_precision": compute_precision(chosen.network),
        "shape": list(batch.shape[1:]),
        "artifact": spec.sha256,
        "file": spec.path.name,
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        **chosen.measurement,
    }
    cache.put(key, entry)
    return chosen


def _remembered(
    spec: NetworkSpec, cache: ChoiceCache, key: str, runtime: str, batch: FloatArray, early: Background | None
) -> Chosen:
    """Run ``batch`` on the remembered ``runtime``; flag the verdict when the call is much slower than the
    figure it won with."""
    prepared = early.result() if early is not None and early.runtime == runtime else None
    network = prepared[1] if prepared is not None else _spec.open_runtime(spec, runtime, batch)
    start = spec.clock()
    output = np.asarray(network(batch), dtype=np.float32)
    seconds = spec.clock() - start
    figure = _warmup_figure(cache.entries().get(key), runtime)
    if figure is not None and seconds > max(RECHECK_FACTOR * figure, RECHECK_FLOOR_S):
        cache.flag_for_recheck(key, seconds, figure)
    return Chosen(network, runtime, "remembered", output)


def _warmup_figure(entry: dict[str, Any] | None, runtime: str) -> float | None:
    """The winner's warm-up call in the contest (a first call, like a remembered run's), when recorded."""
    warmup = entry.get("warmup") if entry is not None else None
    value = warmup.get(runtime) if isinstance(warmup, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None


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
