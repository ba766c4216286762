"""TorchScript → ONNX export of deepbet's real bbox net: ONNX Runtime agrees with torch on a real image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from deepbet_helpers import BBOX_SHAPE, colin27_batch, deepbet_model

from deepinfer.card import ModelCard, parse_card
from deepinfer.runners._export import compare_networks, export_card_networks, export_torchscript_to_onnx
from deepinfer.runners._torchscript import TorchScriptNetwork
from deepinfer.store import sha256_file

FloatArray = npt.NDArray[np.float32]


class OrtNetwork:
    """ONNX Runtime used directly (the reference side of the comparison, independent of deepinfer's runner)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: FloatArray) -> FloatArray:
        (output, *_) = self.session.run(None, {self.session.get_inputs()[0].name: batch})
        return np.asarray(output, dtype=np.float32)


def deepbet_card(bbox_model: Path, runtime: str = "torchscript") -> ModelCard:
    member = {"kind": "wheel", "package": "deepbet", "version": "1.0.2", "path": "data/models/bbox_model.pt"}
    document: dict[str, Any] = {
        "id": "deepbet-bbox",
        "name": "deepbet bounding-box net",
        "version": "1.0.2",
        "task": "segmentation",
        "modality": "MR",
        "anatomy": "brain",
        "license": {"code": "MIT", "weights": "MIT"},
        "inputs": [{"name": "t1", "type": "volume"}],
        "outputs": [
            {"name": "mask", "type": "labelmap", "labels": [{"value": 1, "name": "brain", "color": "#e0a060"}]}
        ],
        "artifacts": [
            {"name": "bbox", "sha256": sha256_file(bbox_model), "size": bbox_model.stat().st_size, "source": member}
        ],
        "runtime": {"type": runtime},
        "pipeline": [{"step": "infer", "params": {"network": "bbox"}}],
    }
    return parse_card(document)


@pytest.fixture(scope="module")
def bbox_model() -> Path:
    return deepbet_model("bbox_model.pt")


@pytest.fixture(scope="module")
def bbox_onnx(bbox_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "bbox.onnx"
    export_torchscript_to_onnx(bbox_model, path, BBOX_SHAPE)
    return path


def test_onnx_export_agrees_with_torch_on_a_real_image(bbox_model: Path, bbox_onnx: Path, colin27: Path) -> None:
    import onnx

    onnx.checker.check_model(str(bbox_onnx))
    batch = colin27_batch(colin27)
    torch_net, onnx_net = TorchScriptNetwork(bbox_model), OrtNetwork(bbox_onnx)

    assert compare_networks(torch_net, onnx_net, batch) < 5e-3  # measured 7e-4 (softmax outputs)
    torch_out, onnx_out = torch_net(batch), onnx_net(batch)
    agreement = (torch_out.argmax(axis=1) == onnx_out.argmax(axis=1)).mean()
    assert agreement >= 0.9999
    assert [p.name for p in bbox_onnx.parent.iterdir()] == ["bbox.onnx"]  # no temporary left behind


def test_exported_batch_axis_is_dynamic(bbox_onnx: Path) -> None:
    session = OrtNetwork(bbox_onnx).session
    assert session.get_inputs()[0].shape[0] == "batch"
    assert session.get_outputs()[0].shape[0] == "batch"


def test_compare_networks_refuses_other_shapes() -> None:
    batch = np.zeros((1, 1, 2, 2, 2), np.float32)
    with pytest.raises(ValueError, match="shape"):
        compare_networks(lambda x: x, lambda x: x[:, :, :1], batch)
    assert compare_networks(lambda x: x, lambda x: x + 0.5, batch) == 0.5


def test_card_networks_are_exported_with_hashes(bbox_model: Path, bbox_onnx: Path, tmp_path: Path) -> None:
    card = deepbet_card(bbox_model)
    exported = export_card_networks(card, {"bbox": bbox_model}, tmp_path / "onnx", {"bbox": BBOX_SHAPE})

    path, sha256, size = exported["bbox"]
    assert path == tmp_path / "onnx" / "bbox.onnx"
    assert sha256 == sha256_file(path) and size == path.stat().st_size > 1_000_000


def test_card_export_refuses_wrong_runtime_and_unknown_artifacts(bbox_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="torchscript"):
        export_card_networks(deepbet_card(bbox_model, "onnx"), {"bbox": bbox_model}, tmp_path, {"bbox": BBOX_SHAPE})
    with pytest.raises(ValueError, match="model"):
        export_card_networks(deepbet_card(bbox_model), {"bbox": bbox_model}, tmp_path, {"model": BBOX_SHAPE})
    assert not list(tmp_path.iterdir())
