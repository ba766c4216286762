"""Runners: load a card's network artifact for its runtime type and call it on batches.

``load_network(runtime_type, path)`` looks the type up in :data:`LOADERS` (``onnx`` and ``torchscript``;
containers run out of process) and raises :class:`~deepinfer.RuntimeUnavailableError` for a type with no
in-process loader. :class:`NetworkCache` is the :class:`~deepinfer.pipeline.NetworkProvider` a pipeline
run needs: artifact name → loaded network, each loaded once.

Runtimes (:data:`RUNTIMES`): ``onnxruntime``, ``openvino`` and ``torchscript``; a cache built with ``runtime``
(one of them, or ``auto``: the fastest installed one that keeps the card's accuracy, measured once per model
and host, see ``_choice``) and ``precision`` (``exact``: fp32; ``fast``: bf16/f16 where the hardware has it)
opens each network with it. Without ``runtime`` it uses the card's own runtime, as before.
"""

from __future__ import annotations

from deepinfer.runners._cache import (
    DEFAULT_TOLERANCE,
    LOADERS,
    NetworkCache,
    NetworkLoader,
    card_network_cache,
    load_network,
)
from deepinfer.runners._choice import SelectedNetwork
from deepinfer.runners._external import check_external_data
from deepinfer.runners._onnx import OnnxNetwork
from deepinfer.runners._openvino import OpenVinoNetwork
from deepinfer.runners._runtimes import AUTO, PRECISIONS, RUNTIME_CHOICES, RUNTIMES, installed
from deepinfer.runners._torchscript import TorchScriptNetwork
from deepinfer.runners._verdicts import ChoiceCache, describe_verdict

__all__ = [
    "AUTO",
    "DEFAULT_TOLERANCE",
    "LOADERS",
    "PRECISIONS",
    "RUNTIMES",
    "RUNTIME_CHOICES",
    "ChoiceCache",
    "NetworkCache",
    "NetworkLoader",
    "OnnxNetwork",
    "OpenVinoNetwork",
    "SelectedNetwork",
    "TorchScriptNetwork",
    "card_network_cache",
    "check_external_data",
    "describe_verdict",
    "installed",
    "load_network",
]
