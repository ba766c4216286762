"""``auto``'s contest: run the network's first real batch on every candidate runtime and keep the fastest one
that keeps the card's accuracy, with figures a busy moment cannot spoil.

Each candidate (the card's own runtime first: its output is the reference) is opened and called once on the
batch: that warm-up call gives the output checked against the reference (in ``exact`` mode a candidate whose
output differs by more than the card's tolerance is left out) and absorbs one-time costs (allocation,
compilation). Then the surviving candidates are timed in rounds, one call each per round, in an order that
rotates from round to round, so that a burst of other work on the machine falls on all of them alike rather
than on one. A candidate's figure is its fastest timed call (noise only ever adds time). After
:data:`MIN_ROUNDS` rounds a candidate whose best call is slower than :data:`CLEAR_MARGIN` times the leader's
slowest is out; the rounds end when one is left, after :data:`MAX_ROUNDS`, or once :data:`BUDGET_S` seconds
were spent timing. A runtime that needs a conversion it cannot make here (TorchScript → ONNX without torch or
the ``onnx`` package) is left out with a one-line note, never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from deepinfer._exceptions import DeepInferError, IntegrityError, RuntimeUnavailableError
from deepinfer.pipeline import Network
from deepinfer.runners import _spec
from deepinfer.runners._derived import Derived, derived_folder, output_difference
from deepinfer.runners._runtimes import (
    NATIVE,
    RUNTIMES,
    can_run,
    candidates,
    conversion_unavailable,
    installed,
    needs_conversion,
)
from deepinfer.runners._spec import Chosen, Clock, FloatArray, NetworkSpec

log = logging.getLogger("deepinfer.runners")

MIN_ROUNDS = 2
MAX_ROUNDS = 5
BUDGET_S = 10.0
CLEAR_MARGIN = 1.25


def measure(spec: NetworkSpec, batch: FloatArray) -> Chosen:
    """The fastest candidate runtime for ``spec`` on ``batch`` that meets the accuracy bound, with its output
    for ``batch`` and a record of the contest (``measurement``)."""
    native = NATIVE.get(spec.card_type)
    reference: FloatArray | None = None
    contenders: dict[str, Network] = {}
    outputs: dict[str, FloatArray] = {}
    warmup: dict[str, float] = {}
    differences: dict[str, float] = {}
    rejected: dict[str, str] = {}
    for name in candidates(spec.card_type):
        reason = _cannot_open(spec, name)
        if reason is not None:
            rejected[name] = reason
            continue
        try:
            network = _spec.open_runtime(spec, name, batch, reference)
            output, warmup[name] = _timed(network, batch, spec.clock)
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
        contenders[name] = network
        outputs[name] = output
    _note_left_out(spec, rejected)
    if not contenders:
        raise RuntimeUnavailableError(f"no runtime could run {spec.name}: {_reasons(spec, rejected)}")
    samples = _time_rounds(contenders, batch, spec.clock) if len(contenders) > 1 else {}
    best = {name: min(samples.get(name) or [warmup[name]]) for name in contenders}
    winner = min(best, key=lambda name: best[name])
    measurement: dict[str, Any] = {
        "seconds": {name: round(value, 4) for name, value in best.items()},
        "warmup": {name: round(value, 4) for name, value in warmup.items() if name in contenders},
        "rounds": max((len(s) for s in samples.values()), default=0),
        "samples": {name: [round(value, 4) for value in values] for name, values in samples.items()},
        "max_abs_diff": differences,
        "rejected": rejected,
    }
    return Chosen(contenders[winner], winner, "measured", outputs[winner], measurement)


def _timed(network: Network, batch: FloatArray, clock: Clock) -> tuple[FloatArray, float]:
    start = clock()
    output = np.asarray(network(batch), dtype=np.float32)
    return output, clock() - start


def _time_rounds(contenders: dict[str, Network], batch: FloatArray, clock: Clock) -> dict[str, list[float]]:
    """Each contender's timed calls, in rotating rounds, dropping the clearly slower ones (module notes)."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    active = list(contenders)
    spent = 0.0
    for round_number in range(MAX_ROUNDS):
        shift = round_number % len(active)
        for name in active[shift:] + active[:shift]:
            seconds = _timed(contenders[name], batch, clock)[1]
            samples[name].append(seconds)
            spent += seconds
        if round_number + 1 < MIN_ROUNDS:
            continue
        leader = min(active, key=lambda name: min(samples[name]))
        slowest = max(samples[leader])
        active = [name for name in active if name == leader or min(samples[name]) <= CLEAR_MARGIN * slowest]
        if len(active) == 1 or spent >= BUDGET_S:
            break
    return samples


def _cannot_open(spec: NetworkSpec, runtime: str) -> str | None:
    """Why ``runtime`` cannot open ``spec``'s network here without trying (a conversion that cannot be made)."""
    if not needs_conversion(spec.card_type, runtime):
        return None
    if Derived(derived_folder(spec.home), spec.sha256).verified() is not None:
        return None
    return conversion_unavailable()


def _note_left_out(spec: NetworkSpec, rejected: dict[str, str]) -> None:
    """One line per reason, naming the runtimes it left out."""
    by_reason: dict[str, list[str]] = {}
    for name, reason in rejected.items():
        by_reason.setdefault(reason, []).append(name)
    for reason, names in by_reason.items():
        log.warning("runtime auto: %s left out for %s: %s", " and ".join(names), spec.name, reason)


def _reasons(spec: NetworkSpec, rejected: dict[str, str]) -> str:
    """Every runtime that could run this card format and why it did not, as one readable line."""
    reasons = dict(rejected)
    for name, runtime in RUNTIMES.items():
        if name not in reasons and can_run(spec.card_type, name) and not installed(name):
            package = "'deepinfer[torch]'" if runtime.module == "torch" else runtime.distributions[0]
            reasons[name] = f"not installed (pip install {package})"
    return "; ".join(f"{name}: {reason}" for name, reason in reasons.items()) or "no runtime is installed"
