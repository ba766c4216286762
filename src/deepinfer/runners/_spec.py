"""What opening one card network needs (:class:`NetworkSpec`), and opening it on one runtime.

Glossary used across ``runners``: the *card format* is a card's ``runtime.type`` (``onnx`` or
``torchscript``: what its artifact files are); a *runtime* is the engine that runs a network in this process
(``onnxruntime``, ``openvino``, ``torchscript``); the *precision mode* is what the user asks for (``exact`` or
``fast``); the *compute precision* is what a loaded network computes in (``f32``, ``bf16``, ``f16``); the
*tolerance* is the card's exact-mode bound on the largest output difference between runtimes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from deepinfer.pipeline import Network
from deepinfer.runners._derived import converted_onnx
from deepinfer.runners._runtimes import RUNTIMES, needs_conversion

FloatArray = npt.NDArray[np.float32]
Shape = tuple[int, ...]
Clock = Callable[[], float]


@dataclass(frozen=True)
class NetworkSpec:
    """One card network to open: its verified file and sha256, and how it should run.

    ``clock`` times the calls that choose a runtime (a seam: tests give a fake one)."""

    card_type: str  # the card format: onnx | torchscript
    path: Path
    sha256: str
    threads: int | None
    precision: str  # the precision mode: exact | fast
    tolerance: float  # exact mode: largest |Δ| allowed against the card's own runtime
    home: Path
    clock: Clock = field(default=time.perf_counter, compare=False)
    label: str = ""  # how messages name the network (the card's artifact name); default: the file name

    @property
    def name(self) -> str:
        return self.label or self.path.name


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
