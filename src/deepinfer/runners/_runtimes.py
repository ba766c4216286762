"""The in-process runtimes a card's networks can run on, what each reads, and what this host has installed.

=============  ===========  =====================================================================
runtime        reads        notes
=============  ===========  =====================================================================
onnxruntime    ONNX         fp32 only (``fast`` runs fp32)
openvino       ONNX         ``fast``: bf16/f16 where the CPU computes it natively
torchscript    TorchScript  fp32 only; only sha256-pinned registry artifacts (DESIGN: no code from data)
=============  ===========  =====================================================================

A card's own format is its ``runtime.type``: ``onnx`` cards run on onnxruntime or openvino as they are;
``torchscript`` cards run on torchscript, or on an ONNX runtime through a local, verified conversion
(:mod:`deepinfer.runners._derived`). Nothing here imports a runtime: installed means importable
(``importlib.util.find_spec``), versions come from package metadata.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from deepinfer._exceptions import RuntimeUnavailableError, UsageError

if TYPE_CHECKING:  # (the pipeline imports numpy: the CLI's options need only the names here)
    from deepinfer.pipeline import Network

AUTO = "auto"
PRECISIONS = ("exact", "fast")
NATIVE = MappingProxyType({"onnx": "onnxruntime", "torchscript": "torchscript"})
"""A card runtime type → the runtime that runs its artifacts as they are (the reference for ``auto``)."""


def _onnxruntime(path: Path, threads: int | None, precision: str) -> Network:
    from deepinfer.runners._onnx import OnnxNetwork

    return OnnxNetwork(path, threads)


def _openvino(path: Path, threads: int | None, precision: str) -> Network:
    from deepinfer.runners._openvino import OpenVinoNetwork

    return OpenVinoNetwork(path, threads, precision)


def _torchscript(path: Path, threads: int | None, precision: str) -> Network:
    from deepinfer.runners._torchscript import TorchScriptNetwork

    return TorchScriptNetwork(path, threads)


@dataclass(frozen=True)
class Runtime:
    name: str
    module: str  # the import name that must be installed
    distributions: tuple[str, ...]  # package names whose version identifies the build
    reads: str  # "onnx" or "torchscript": the file format it loads
    load: Callable[[Path, int | None, str], Network]
    reduced_precision: bool  # whether ``fast`` can compute below fp32


RUNTIMES: Mapping[str, Runtime] = MappingProxyType(
    {
        "onnxruntime": Runtime(
            "onnxruntime", "onnxruntime", ("onnxruntime", "onnxruntime-gpu"), "onnx", _onnxruntime, False
        ),
        "openvino": Runtime("openvino", "openvino", ("openvino",), "onnx", _openvino, True),
        "torchscript": Runtime("torchscript", "torch", ("torch",), "torchscript", _torchscript, False),
    }
)
RUNTIME_CHOICES = (AUTO, *RUNTIMES)


def installed(name: str) -> bool:
    """Whether runtime ``name`` can be imported here (without importing it)."""
    return importlib.util.find_spec(RUNTIMES[name].module) is not None


def runtime_version(name: str) -> str:
    for distribution in RUNTIMES[name].distributions:
        try:
            return f"{distribution}-{importlib.metadata.version(distribution)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def conversion_unavailable() -> str | None:
    """Why a TorchScript network cannot be converted to ONNX here (torch's exporter needs torch and the
    ``onnx`` package), or None when it can."""
    missing = [name for name in ("torch", "onnx") if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return f"converting TorchScript to ONNX needs {' and '.join(missing)} (pip install 'deepinfer[torch]')"


def needs_conversion(card_type: str, runtime: str) -> bool:
    """Whether ``runtime`` runs ``card_type`` artifacts only after a conversion (TorchScript → ONNX)."""
    return RUNTIMES[runtime].reads != card_type


def can_run(card_type: str, runtime: str) -> bool:
    """Whether ``runtime`` can run a card of ``card_type`` (directly, or after converting it to ONNX)."""
    reads = RUNTIMES[runtime].reads
    return reads == card_type or (card_type == "torchscript" and reads == "onnx")


def candidates(card_type: str) -> list[str]:
    """The installed runtimes that can run ``card_type``, the card's own runtime first."""
    native = NATIVE.get(card_type)
    names = [native, *(n for n in RUNTIMES if n != native)] if native else list(RUNTIMES)
    return [n for n in names if n is not None and can_run(card_type, n) and installed(n)]


def check_choice(card_type: str | None, runtime: str | None, precision: str | None) -> None:
    """A :class:`UsageError` for an unknown runtime or precision, or (given ``card_type``) a runtime that cannot
    run that card type; a :class:`RuntimeUnavailableError` for a runtime that is not installed. None: not chosen."""
    if precision is not None and precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if runtime is None or runtime == AUTO:
        return
    if runtime not in RUNTIMES:
        raise UsageError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIME_CHOICES)}")
    if card_type is not None and (card_type not in NATIVE or not can_run(card_type, runtime)):
        raise UsageError(f"the runtime {runtime} cannot run a {card_type} card")
    if not installed(runtime):
        package = RUNTIMES[runtime].distributions[0]
        raise RuntimeUnavailableError(f"the runtime {runtime} is not installed (pip install {package})")


@cache
def host_fingerprint() -> str:
    """A short digest of what makes a speed measurement specific to this host: the CPU (model, flags), the
    machine type and the number of usable cores."""
    affinity = getattr(os, "sched_getaffinity", None)
    cores = len(affinity(0)) if affinity is not None else os.cpu_count()
    parts = [platform.machine(), platform.processor(), str(cores)]
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        lines = cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines()
        wanted = ("model name", "flags", "Features", "CPU part")
        parts += sorted({line.split(":", 1)[1].strip() for line in lines if line.startswith(wanted) and ":" in line})
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
