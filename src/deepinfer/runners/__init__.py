"""Runners: load a card's network artifact for its runtime type and call it on batches.

``load_network(runtime_type, path)`` looks the type up in :data:`LOADERS` (``onnx`` and ``torchscript``;
containers run out of process) and raises :class:`~deepinfer.RuntimeUnavailableError` for a type with no
in-process loader. :class:`NetworkCache` is the :class:`~deepinfer.pipeline.NetworkProvider` a pipeline
run needs: artifact name → loaded network, each loaded once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from deepinfer._exceptions import RuntimeUnavailableError
from deepinfer.pipeline import Network
from deepinfer.runners._external import check_external_data
from deepinfer.runners._onnx import OnnxNetwork
from deepinfer.runners._torchscript import TorchScriptNetwork


class NetworkLoader(Protocol):
    """Opens the network stored at ``path``; ``threads`` bounds its CPU threads (None: the runtime's default)."""

    def __call__(self, path: Path, threads: int | None = None) -> Network: ...


LOADERS: Mapping[str, NetworkLoader] = MappingProxyType({"onnx": OnnxNetwork, "torchscript": TorchScriptNetwork})


def load_network(runtime_type: str, path: Path, threads: int | None = None) -> Network:
    """The network at ``path`` loaded by the in-process runtime ``runtime_type``."""
    try:
        loader = LOADERS[runtime_type]
    except KeyError:
        known = ", ".join(sorted(LOADERS))
        raise RuntimeUnavailableError(
            f"runtime {runtime_type!r} cannot run in-process (in-process runtimes: {known})"
        ) from None
    return loader(path, threads)


class NetworkCache:
    """Artifact name → network, loaded on first use with ``locate(name)`` giving the verified file."""

    def __init__(self, runtime_type: str, locate: Callable[[str], Path], threads: int | None = None) -> None:
        self.runtime_type = runtime_type
        self.locate = locate
        self.threads = threads
        self._loaded: dict[str, Network] = {}

    def __call__(self, artifact: str) -> Network:
        if artifact not in self._loaded:
            self._loaded[artifact] = load_network(self.runtime_type, self.locate(artifact), self.threads)
        return self._loaded[artifact]


__all__ = [
    "LOADERS",
    "NetworkCache",
    "NetworkLoader",
    "OnnxNetwork",
    "TorchScriptNetwork",
    "check_external_data",
    "load_network",
]
