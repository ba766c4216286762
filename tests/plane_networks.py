"""A tiny real 2D classifier (ONNX, built with onnx.helper, run by onnxruntime) and a card that runs it plane
by plane, for tests of the plane-wise machinery (not of a network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deepinfer.store import sha256_file


def plane_mean_onnx(path: Path, layout: str = "NHWC", channels: int = 3) -> Path:
    """A classifier whose two scores per plane are the plane's mean value and its negative."""
    import onnx
    from onnx import TensorProto, helper

    dims: list[Any] = ["N", "H", "W", channels] if layout == "NHWC" else ["N", channels, "H", "W"]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 2])
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Flatten", ["mean"], ["column"], axis=1),
        helper.make_node("Neg", ["column"], ["negative"]),
        helper.make_node("Concat", ["column", "negative"], ["scores"], axis=1),
    ]
    graph = helper.make_graph(nodes, "plane_mean", [image], [scores])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def plane_mean_card(folder: Path, plane: str = "axial", rule: str = "max", **infer: Any) -> Path:
    """A card running :func:`plane_mean_onnx` on every ``plane`` (no scaling, no resize: the scores are the
    planes' mean voxel values)."""
    model = plane_mean_onnx(folder / "plane_mean.onnx")
    card = {
        "schema_version": "2.0",
        "id": "plane-mean",
        "name": "Plane mean (test classifier)",
        "version": "1.0.0",
        "task": "classification",
        "modality": "MR",
        "anatomy": "any",
        "license": {"code": "MIT", "weights": "MIT"},
        "inputs": [{"type": "volume", "name": "image"}],
        "outputs": [{"type": "class_scores", "name": "scores", "classes": ["mean", "negative"]}],
        "artifacts": [
            {
                "name": "model",
                "sha256": sha256_file(model),
                "size": model.stat().st_size,
                "source": {"kind": "file", "path": model.name},
            }
        ],
        "runtime": {"type": "onnx"},
        "pipeline": [
            {"step": "planes", "params": {"plane": plane}},
            {"step": "infer_planes", "params": {"channels": 3, "layout": "NHWC", "batch_size": 7, **infer}},
            {"step": "class_scores", "params": {"name": "scores", "activation": "none", "rule": rule}},
        ],
    }
    path = folder / "plane-mean.json"
    path.write_text(json.dumps(card, indent=2), encoding="utf-8")
    return path


def plane_classifier_onnx(
    path: Path, layout: str = "NCHW", channels: int = 1, size: tuple[int, int] | None = (32, 32), classes: int = 4
) -> Path:
    """A 2D classifier ending in a softmax: ``classes`` scores per picture from its mean value ``m`` (logit k is
    ``k · m``, so brighter pictures favour the last class). ``size`` None leaves H and W free in the graph."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    height, width = size if size is not None else ("H", "W")
    dims: list[Any] = ["N", height, width, channels] if layout == "NHWC" else ["N", channels, height, width]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)
    scores = helper.make_tensor_value_info("class_probabilities", TensorProto.FLOAT, ["N", classes])
    weights = numpy_helper.from_array(np.arange(classes, dtype=np.float32).reshape(1, classes), "weights")
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Flatten", ["mean"], ["column"], axis=1),
        helper.make_node("MatMul", ["column", "weights"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["class_probabilities"], axis=1),
    ]
    graph = helper.make_graph(nodes, "plane_classifier", [image], [scores], initializer=[weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
