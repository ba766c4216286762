"""Tiny real networks for tests: ONNX (built with onnx.helper, run by onnxruntime) and TorchScript cards."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def tiny_onnx(path: Path, channels: int = 1, rank: int = 5) -> Path:
    """A network with dynamic spatial size: ``2·x`` (one channel) or ``[x, -x]`` (two channels)."""
    import onnx
    from onnx import TensorProto, helper

    dims: list[Any] = ["N", 1, "D", "H", "W"][:rank]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)
    logits = helper.make_tensor_value_info("seg.logits", TensorProto.FLOAT, ["N", channels, *dims[2:]])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    if channels == 1:
        nodes = [helper.make_node("Mul", ["image", "two"], ["seg.logits"])]
    else:
        nodes = [
            helper.make_node("Neg", ["image"], ["negative"]),
            helper.make_node("Concat", ["image", "negative"], ["seg.logits"], axis=1),
        ]
    graph = helper.make_graph(nodes, "tiny", [image], [logits], initializer=[two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def tiny_torchscript_card(
    folder: Path,
    *,
    before: Sequence[dict[str, Any]] = (),
    threshold: Any = 0.5,
    parameters: Sequence[dict[str, Any]] = (),
    resources: dict[str, Any] | None = None,
) -> Path:
    """A TorchScript card with a real (tiny) network, softmax over (x, -x): mask = channel 1 > ``threshold`` (a
    number or ``{"param": NAME}``), after the steps ``before``; written to ``folder/tiny.json``."""
    import torch

    from deepinfer.store import sha256_file

    class Tiny(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(torch.cat([x, -x], dim=1), dim=1)

    network = folder / "tiny.pt"
    torch.jit.save(torch.jit.script(Tiny()), str(network))
    document: dict[str, Any] = {
        "id": "tiny", "name": "tiny", "version": "1.0.0", "task": "segmentation", "modality": "MR",
        "anatomy": "brain", "license": {"code": "MIT", "weights": "MIT"},
        "inputs": [{"type": "volume", "name": "T1"}],
        "outputs": [{"type": "labelmap", "name": "Mask", "labels": [{"value": 1, "name": "x", "color": "#ff0000"}]}],
        "parameters": list(parameters),
        "artifacts": [{"name": "net", "sha256": sha256_file(network), "size": network.stat().st_size,
                       "source": {"kind": "file", "path": "tiny.pt"}}],
        "runtime": {"type": "torchscript"},
        "pipeline": [
            *before,
            {"step": "infer", "params": {"network": "net"}},
            {"step": "select_channel", "params": {"channel": 1}},
            {"step": "threshold", "params": {"value": threshold}},
            {"step": "output", "params": {"name": "Mask", "dtype": "uint8"}},
        ],
    }  # fmt: skip
    if resources is not None:
        document["resources"] = resources
    path = folder / "tiny.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def darker_voxels_card(folder: Path) -> Path:
    """The tiny TorchScript card with its input scaled to [-1, 1] (1st–99th percentile) first, so that on a real
    image its mask is the darker voxels (neither empty nor full); a ``threshold`` parameter, a small memory
    figure. For tests of the machinery around a network (batch, PACS, server), not of the network."""
    return tiny_torchscript_card(
        folder,
        before=[
            {"step": "percentiles", "params": {"lower": 1.0, "upper": 99.0, "store_as": "range"}},
            {"step": "scale_to_range", "params": {"values": "range", "minimum": -1.0, "maximum": 1.0}},
        ],
        threshold={"param": "threshold"},
        parameters=[{"type": "float", "name": "threshold", "default": 0.5, "minimum": 0.0, "maximum": 1.0}],
        resources={"memory_gb": 0.5},
    )
