"""OnnxNetwork and the runtime registry, on small ONNX models built here; unsafe external data is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from deepinfer._exceptions import IntegrityError, PipelineError, RuntimeUnavailableError
from deepinfer.runners import NetworkCache, OnnxNetwork, load_network
from deepinfer.runners._external import may_name_external_data
from deepinfer.runners._onnx import choose_providers


def affine_model(weight: Any) -> Any:
    """y = x * 2 + w, input (batch, 1, 4, 4, 4) with a dynamic batch axis."""
    shape: list[str | int] = ["batch", 1, 4, 4, 4]
    graph = helper.make_graph(
        [helper.make_node("Mul", ["input", "two"], ["doubled"]), helper.make_node("Add", ["doubled", "w"], ["output"])],
        "affine",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)],
        [numpy_helper.from_array(np.array([2.0], np.float32), "two"), weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def external_weight(location: str) -> Any:
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1], data_location=TensorProto.EXTERNAL)
    for key, value in {"location": location, "offset": "0", "length": "4"}.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def write_model(path: Path, model: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    return write_model(tmp_path / "model.onnx", affine_model(numpy_helper.from_array(np.array([1.0], np.float32), "w")))


def test_onnx_network_runs_batches_on_the_cpu(model_file: Path) -> None:
    network = OnnxNetwork(model_file, threads=1)
    batch = np.random.default_rng(0).normal(size=(3, 1, 4, 4, 4)).astype(np.float32)
    result = network(batch)
    assert result.dtype == np.float32 and result.shape == batch.shape
    np.testing.assert_allclose(result, batch * 2 + 1, rtol=1e-6)
    assert network.providers == ["CPUExecutionProvider"]
    assert network.session.get_session_options().intra_op_num_threads == 1


def test_provider_choice() -> None:
    assert choose_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    gpu = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers("auto", gpu) == gpu
    assert choose_providers(["CPUExecutionProvider"], gpu) == ["CPUExecutionProvider"]
    with pytest.raises(RuntimeUnavailableError, match="CUDAExecutionProvider"):
        choose_providers("CUDAExecutionProvider", ["CPUExecutionProvider"])


def test_external_data_inside_the_folder_is_used(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(np.array([5.0], np.float32).tobytes())
    path = write_model(tmp_path / "model.onnx", affine_model(external_weight("weights.bin")))
    np.testing.assert_allclose(OnnxNetwork(path)(np.zeros((1, 1, 4, 4, 4), np.float32)), 5.0)


@pytest.mark.parametrize("location", ["../secret.bin", "sub/../../secret.bin", "ABSOLUTE", "link.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path: Path, location: str) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.array([7.0], np.float32).tobytes())
    folder = tmp_path / "model"
    folder.mkdir()
    os.symlink(secret, folder / "link.bin")
    where = str(secret) if location == "ABSOLUTE" else location
    path = write_model(folder / "model.onnx", affine_model(external_weight(where)))
    with pytest.raises(IntegrityError, match="lies outside the model's folder"):
        OnnxNetwork(path)


def test_only_a_model_that_may_name_external_data_is_parsed(tmp_path: Path, model_file: Path) -> None:
    assert not may_name_external_data(model_file)  # every tensor inside: the bytes never hold the key
    external = write_model(tmp_path / "external" / "model.onnx", affine_model(external_weight("weights.bin")))
    assert may_name_external_data(external)
    # a fresh process loading the self-contained model never imports the onnx package
    script = (
        "import sys; from pathlib import Path; from deepinfer.runners import OnnxNetwork; "
        f"OnnxNetwork(Path({str(model_file)!r})); print('onnx' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, encoding="utf-8", check=True)
    assert result.stdout.strip() == "False", result.stderr


def test_a_file_that_is_not_onnx_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"this is not a protobuf \xff\xfe")
    with pytest.raises(PipelineError, match=r"model\.onnx"):
        OnnxNetwork(path)


def test_load_network_by_card_format(model_file: Path) -> None:
    network = load_network("onnx", model_file, threads=1)
    assert isinstance(network, OnnxNetwork)  # the format's own runtime, through RUNTIMES
    np.testing.assert_allclose(network(np.zeros((1, 1, 4, 4, 4), np.float32)), 1.0)
    with pytest.raises(RuntimeUnavailableError, match="runtime 'container' cannot run in-process"):
        load_network("container", model_file)


def test_network_cache_loads_each_artifact_once(model_file: Path) -> None:
    located: list[str] = []

    def locate(name: str) -> Path:
        located.append(name)
        return model_file

    networks = NetworkCache("onnx", locate, threads=1)
    assert networks("model") is networks("model")
    assert located == ["model"]
