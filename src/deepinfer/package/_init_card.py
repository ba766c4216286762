"""``deepinfer card init model.onnx``: a draft card from an ONNX graph, for the model author to edit.

The draft names one volume input per graph input and a labelmap output for the graph's first output, pins the
ONNX file (sha256, size) as a file artifact next to the card, and proposes a runnable pipeline: z-score,
sliding window over the network's own spatial size, then sigmoid + threshold (one output channel) or softmax +
argmax (several). Everything a graph cannot tell (modality, anatomy, license, label names, preprocessing) is
marked in the card's notes for the author.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from deepinfer._exceptions import UsageError
from deepinfer.card import ModelCard, parse_card, slugify
from deepinfer.store import sha256_file

DEFAULT_WINDOW = 96
UNKNOWN = "unknown"
_PALETTE = ("#e6a86c", "#80ae80", "#f1d691", "#b17a65", "#6fb8d2", "#d8654f", "#dd8265", "#90ee90")


def member_name(graph_name: str, fallback: str) -> str:
    """An ONNX tensor name as a card member name (a letter, then letters, digits or '_')."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", graph_name).strip("_")
    if not name or not name[0].isalpha():
        name = f"{fallback}_{name}" if name else fallback
    return name[:64]


def _graph(model: Path) -> tuple[list[Any], list[Any]]:
    from deepinfer.runners import OnnxNetwork

    session = OnnxNetwork(model, threads=1).session
    return list(session.get_inputs()), list(session.get_outputs())


def _spatial_window(shape: list[Any]) -> list[int]:
    if len(shape) != 5:
        raise UsageError(f"card init drafts cards for 3D networks (batch, channel, D, H, W); the input is {shape}")
    return [d if isinstance(d, int) and d > 0 else DEFAULT_WINDOW for d in shape[2:]]


def _channels(shape: list[Any]) -> int:
    return shape[1] if len(shape) > 1 and isinstance(shape[1], int) and shape[1] > 0 else 1


def relative_source(model: Path, card_path: Path) -> str:
    folder = card_path.resolve().parent
    resolved = model.resolve()
    if not resolved.is_relative_to(folder):
        raise UsageError(f"{model}: put the card in the model's folder or above it (file sources stay inside it)")
    return Path(os.path.relpath(resolved, folder)).as_posix()


def model_artifact(model: Path, card_path: Path) -> dict[str, Any]:
    """The card's ``model`` artifact: the ONNX file beside (or below) the card, pinned by sha256 and size."""
    return {
        "name": "model",
        "sha256": sha256_file(model),
        "size": model.stat().st_size,
        "source": {"kind": "file", "path": relative_source(model, card_path)},
    }


def _labels(channels: int) -> list[dict[str, Any]]:
    count = 1 if channels == 1 else channels - 1
    return [
        {"value": value, "name": f"label{value}", "color": _PALETTE[(value - 1) % len(_PALETTE)]}
        for value in range(1, count + 1)
    ]


def _pipeline(window: list[int], channels: int, output: str) -> list[dict[str, Any]]:
    sliding = {"network": "model", "roi": window, "overlap": 0.25, "blend": "gaussian"}
    head: list[dict[str, Any]] = [
        {"step": "normalize_zscore", "params": {"nonzero": False}},
        {"step": "sliding_window", "params": sliding},
    ]
    if channels == 1:
        tail = [
            {"step": "activation", "params": {"function": "sigmoid"}},
            {"step": "threshold", "params": {"value": {"param": "threshold"}}},
        ]
    else:
        tail = [{"step": "activation", "params": {"function": "softmax"}}, {"step": "argmax", "params": {}}]
    return [*head, *tail, {"step": "output", "params": {"name": output, "dtype": "uint8"}}]


def draft_card(model: Path, card_path: Path) -> ModelCard:
    """A valid, runnable draft card for the ONNX file ``model``, to be written at ``card_path``."""
    if not model.is_file():
        raise UsageError(f"{model}: no such file")
    inputs, outputs = _graph(model)
    window = _spatial_window(list(inputs[0].shape))
    channels = _channels(list(outputs[0].shape))
    output = member_name(outputs[0].name, "Segmentation")
    names = [member_name(node.name, f"Input{index}") for index, node in enumerate(inputs)]
    notes = [
        "Draft made by deepinfer card init: set modality, anatomy, license, label names, the preprocessing "
        "(orientation, spacing, intensity) the network was trained with, and add examples for deepinfer card test.",
        f"The pipeline feeds the first graph input ({inputs[0].name}) and uses the first graph output "
        f"({outputs[0].name}, {channels} channel(s)).",
    ]
    document: dict[str, Any] = {
        "id": slugify(model.stem),
        "name": model.stem,
        "version": "0.1.0",
        "task": "segmentation",
        "modality": UNKNOWN,
        "anatomy": UNKNOWN,
        "description": f"Draft card for {model.name}.",
        "license": {"code": "NOASSERTION", "weights": "NOASSERTION"},
        "notes": notes,
        "inputs": [
            {"type": "volume", "name": name, "description": f"ONNX input {node.name!r}, shape {node.shape}"}
            for name, node in zip(names, inputs, strict=True)
        ],
        "outputs": [{"type": "labelmap", "name": output, "labels": _labels(channels)}],
        "parameters": [{"type": "float", "name": "threshold", "default": 0.5, "minimum": 0.0, "maximum": 1.0}]
        if channels == 1
        else [],
        "artifacts": [model_artifact(model, card_path)],
        "runtime": {"type": "onnx"},
        "pipeline": _pipeline(window, channels, output),
    }
    return parse_card(document, str(card_path))
