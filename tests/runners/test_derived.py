"""TorchScript → ONNX conversion for OpenVINO and ONNX Runtime: made once from a verified file, checked on the
first real batch, kept with a manifest, re-hashed on every use; a disagreeing conversion is never kept."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepinfer._exceptions import PipelineError
from deepinfer.runners import NetworkCache, SelectedNetwork
from deepinfer.runners._derived import Derived, converted_onnx, derived_folder
from deepinfer.store import sha256_file
from realparts import require

BATCH = np.random.default_rng(0).normal(size=(1, 1, 8, 8, 8)).astype(np.float32)


@pytest.fixture
def torchscript_net(tmp_path: Path) -> Path:
    """A real TorchScript network: a 3D convolution, instance norm and softmax over two channels."""
    require(importlib.util.find_spec("torch") is not None, "the conversion needs torch (deepinfer[torch])")
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv3d(1, 2, 3, padding=1)
            self.norm = torch.nn.InstanceNorm3d(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.norm(self.conv(x)), dim=1)

    torch.manual_seed(0)
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(Net().eval()), str(path))
    return path


def test_a_converted_network_is_checked_kept_and_reused(torchscript_net: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    sha256 = sha256_file(torchscript_net)
    onnx = converted_onnx(home, torchscript_net, sha256, BATCH, tolerance=1e-4)
    derived = Derived(derived_folder(home), sha256)
    assert onnx == derived.onnx and derived.verified() == onnx
    record = json.loads(derived.manifest.read_text())
    assert record["source_sha256"] == sha256 and record["sha256"] == sha256_file(onnx)
    assert record["check"]["max_abs_diff"] <= 1e-4 and record["check"]["input_shape"] == [1, 1, 8, 8, 8]
    assert converted_onnx(home, torchscript_net, sha256, BATCH, tolerance=1e-4) == onnx  # found, not redone
    assert not [p for p in derived.folder.iterdir() if "partial" in p.name]


def test_a_changed_conversion_is_never_used(torchscript_net: Path, tmp_path: Path) -> None:
    sha256 = sha256_file(torchscript_net)
    onnx = converted_onnx(tmp_path, torchscript_net, sha256, BATCH, tolerance=1e-4)
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    derived = Derived(derived_folder(tmp_path), sha256)
    assert derived.verified() is None
    converted_onnx(tmp_path, torchscript_net, sha256, BATCH, tolerance=1e-4)  # converted again
    assert derived.verified() == onnx


def test_a_disagreeing_conversion_is_not_kept(torchscript_net: Path, tmp_path: Path) -> None:
    sha256 = sha256_file(torchscript_net)
    with pytest.raises(PipelineError, match="differs from the TorchScript network"):
        converted_onnx(tmp_path, torchscript_net, sha256, BATCH, tolerance=1e-4, reference=np.zeros_like(BATCH))
    assert [p.name for p in derived_folder(tmp_path).iterdir()] == [f"{sha256}.lock"]


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
def test_a_torchscript_card_runs_on_an_onnx_runtime(torchscript_net: Path, tmp_path: Path, runtime: str) -> None:
    from deepinfer.runners import TorchScriptNetwork

    expected = TorchScriptNetwork(torchscript_net)(BATCH)
    networks = NetworkCache("torchscript", lambda name: torchscript_net, 1, runtime=runtime, home=tmp_path)
    network = networks("net")
    assert isinstance(network, SelectedNetwork)
    np.testing.assert_allclose(network(BATCH), expected, atol=1e-4)
    assert networks.describe()["net"]["runtime"] == runtime


def test_running_a_conversion_later_does_not_import_torch(torchscript_net: Path, tmp_path: Path) -> None:
    converted_onnx(tmp_path, torchscript_net, sha256_file(torchscript_net), BATCH, tolerance=1e-4)
    code = f"""
import sys
import numpy as np
from pathlib import Path
from deepinfer.runners import NetworkCache
networks = NetworkCache("torchscript", lambda name: Path({str(torchscript_net)!r}), 1, runtime="openvino",
                        home=Path({str(tmp_path)!r}))
networks("net")(np.ones((1, 1, 8, 8, 8), np.float32))
print("torch" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
