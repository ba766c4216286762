"""Tiny real ONNX networks for tests (built with onnx.helper, run by onnxruntime)."""

from __future__ import annotations

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
