"""OpenVinoNetwork on small real ONNX graphs: static compiles per shape, batches across streams, precision."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepinfer._exceptions import IntegrityError, PipelineError
from deepinfer.runners import OpenVinoNetwork
from deepinfer.runners._openvino import device_capabilities, reduced_precision
from realparts import require
from tiny_networks import tiny_onnx


@pytest.fixture(autouse=True)
def _openvino_installed() -> None:
    require(importlib.util.find_spec("openvino") is not None, "the OpenVINO runner needs openvino (a dependency)")


@pytest.fixture
def doubling(tmp_path: Path) -> Path:
    return tiny_onnx(tmp_path / "double.onnx")


def test_single_items_and_batches_give_the_networks_result(doubling: Path) -> None:
    network = OpenVinoNetwork(doubling, threads=2)
    rng = np.random.default_rng(0)
    one = rng.normal(size=(1, 1, 6, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(network(one), 2 * one, rtol=1e-6)
    batch = rng.normal(size=(3, 1, 6, 5, 4)).astype(np.float32)
    result = network(batch)
    assert result.dtype == np.float32 and result.shape == batch.shape
    np.testing.assert_allclose(result, 2 * batch, rtol=1e-6)
    other = rng.normal(size=(1, 1, 3, 3, 3)).astype(np.float32)  # another shape: compiled separately
    np.testing.assert_allclose(network(other), 2 * other, rtol=1e-6)


def test_outputs_are_copies_the_next_call_does_not_overwrite(doubling: Path) -> None:
    network = OpenVinoNetwork(doubling, threads=1)
    first = network(np.ones((1, 1, 4, 4, 4), np.float32))
    network(np.zeros((1, 1, 4, 4, 4), np.float32))
    np.testing.assert_array_equal(first, 2.0)


def test_preferred_batch_comes_from_the_streams(doubling: Path) -> None:
    network = OpenVinoNetwork(doubling, threads=2)
    assert network.preferred_batch == 1  # nothing run yet
    network(np.ones((1, 1, 4, 4, 4), np.float32))
    assert network.preferred_batch >= 1
    assert OpenVinoNetwork(doubling, threads=1).preferred_batch == 1


def test_exact_is_fp32_and_fast_is_what_the_cpu_computes(doubling: Path) -> None:
    assert OpenVinoNetwork(doubling).precision == "f32"
    fast = OpenVinoNetwork(doubling, precision="fast")
    assert fast.precision == reduced_precision(device_capabilities())
    np.testing.assert_allclose(fast(np.full((1, 1, 4, 4, 4), 3.0, np.float32)), 6.0)
    with pytest.raises(ValueError, match="precision"):
        OpenVinoNetwork(doubling, precision="half")


def test_reduced_precision_prefers_bf16_then_f16() -> None:
    assert reduced_precision(["BF16", "FP16", "FP32"]) == "bf16"
    assert reduced_precision(["FP16", "FP32"]) == "f16"
    assert reduced_precision(["FP32", "INT8"]) == "f32"


def test_a_file_that_is_not_a_model_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07 not a model")
    with pytest.raises(PipelineError, match=r"model\.onnx"):
        OpenVinoNetwork(path)


def test_unsafe_external_data_is_refused_before_openvino_reads_it(tmp_path: Path) -> None:
    from test_onnx_runner import affine_model, external_weight, write_model

    (tmp_path / "secret.bin").write_bytes(np.array([7.0], np.float32).tobytes())
    path = write_model(tmp_path / "model" / "model.onnx", affine_model(external_weight("../secret.bin")))
    with pytest.raises(IntegrityError, match="outside the model's folder"):
        OpenVinoNetwork(path)


def test_loading_sends_no_telemetry_and_leaves_the_home_alone(doubling: Path, tmp_path: Path) -> None:
    # OpenVINO's converter module, imported by its package, would write a client id under ~/intel and send a
    # usage event; deepinfer holds it out while OpenVINO loads, and releases it afterwards
    home = tmp_path / "home"
    home.mkdir()
    script = (
        "import sys; import numpy as np; from pathlib import Path; from deepinfer.runners import OpenVinoNetwork; "
        f"OpenVinoNetwork(Path({str(doubling)!r}))(np.ones((1, 1, 2, 2, 2), np.float32)); "
        "print(sorted(m for m in sys.modules if 'telemetry' in m or m.startswith('openvino.tools')), end=' '); "
        f"print(Path({str(home / 'intel')!r}).exists(), end=' '); import openvino.tools.ovc; print('released')"
    )
    env = {**os.environ, "HOME": str(home), "CI": "false"}  # in CI OpenVINO would stay quiet on its own
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, encoding="utf-8", env=env, check=True, timeout=120
    )
    assert result.stdout.split() == ["[]", "False", "released"], result.stderr
