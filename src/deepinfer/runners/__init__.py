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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deepinfer.runners._choice import SelectedNetwork
    from deepinfer.runners._derived import prune_derived
    from deepinfer.runners._export import ExportedFile, export_card_networks
    from deepinfer.runners._external import check_external_data
    from deepinfer.runners._networks import (
        DEFAULT_TOLERANCE,
        PRECISION_VARIABLE,
        RUNTIME_VARIABLE,
        NetworkCache,
        card_network_cache,
        load_network,
        requested_runtime,
    )
    from deepinfer.runners._onnx import OnnxNetwork
    from deepinfer.runners._openvino import OpenVinoNetwork
    from deepinfer.runners._runtimes import AUTO, PRECISIONS, RUNTIME_CHOICES, RUNTIMES, check_choice, installed
    from deepinfer.runners._torchscript import TorchScriptNetwork
    from deepinfer.runners._verdicts import ChoiceCache, describe_verdict

# Each public name is imported from its module on first use (PEP 562), so that what only needs the runtime
# names (the CLI's options) does not import the machinery, numpy and the pipeline with it: ``deepinfer models
# list`` stays fast.
_WHERE = {
    "DEFAULT_TOLERANCE": "_networks",
    "NetworkCache": "_networks",
    "card_network_cache": "_networks",
    "load_network": "_networks",
    "requested_runtime": "_networks",
    "SelectedNetwork": "_choice",
    "prune_derived": "_derived",
    "check_external_data": "_external",
    "OnnxNetwork": "_onnx",
    "OpenVinoNetwork": "_openvino",
    "AUTO": "_runtimes",
    "PRECISIONS": "_runtimes",
    "RUNTIME_CHOICES": "_runtimes",
    "RUNTIMES": "_runtimes",
    "installed": "_runtimes",
    "TorchScriptNetwork": "_torchscript",
    "ChoiceCache": "_verdicts",
    "describe_verdict": "_verdicts",
    "RUNTIME_VARIABLE": "_networks",
    "PRECISION_VARIABLE": "_networks",
    "check_choice": "_runtimes",
    "export_card_networks": "_export",
    "ExportedFile": "_export",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AUTO",
    "DEFAULT_TOLERANCE",
    "PRECISIONS",
    "PRECISION_VARIABLE",
    "RUNTIMES",
    "RUNTIME_CHOICES",
    "RUNTIME_VARIABLE",
    "ChoiceCache",
    "ExportedFile",
    "NetworkCache",
    "OnnxNetwork",
    "OpenVinoNetwork",
    "SelectedNetwork",
    "TorchScriptNetwork",
    "card_network_cache",
    "check_choice",
    "check_external_data",
    "describe_verdict",
    "export_card_networks",
    "installed",
    "load_network",
    "prune_derived",
    "requested_runtime",
]
