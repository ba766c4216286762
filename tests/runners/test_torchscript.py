"""TorchScriptNetwork on deepbet's real bbox net and a real image; a clear error when torch is missing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from deepbet_helpers import BBOX_SHAPE, colin27_batch, deepbet_model

from deepinfer._exceptions import PipelineError, RuntimeUnavailableError
from deepinfer.runners._torchscript import TorchScriptNetwork
from realparts import need


@pytest.fixture(scope="module")
def bbox_model() -> Path:
    return deepbet_model("bbox_model.pt")


@pytest.fixture(scope="module")
def batch(colin27: Path) -> npt.NDArray[np.float32]:
    return colin27_batch(colin27)


@pytest.fixture
def keep_torch_threads() -> Iterator[None]:
    """torch's thread count is process-wide: put it back after a test that sets it."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("keep_torch_threads")
def test_bbox_net_matches_torch_jit(bbox_model: Path, batch: npt.NDArray[np.float32]) -> None:
    import torch

    assert batch.shape == BBOX_SHAPE
    network = TorchScriptNetwork(bbox_model, threads=2)
    assert torch.get_num_threads() == 2
    output = network(batch)

    assert output.dtype == np.float32 and output.shape == (1, 2, 128, 128, 128)
    reference = torch.jit.load(str(bbox_model), map_location="cpu").eval()  # type: ignore[no-untyped-call]
    with torch.no_grad():
        expected = reference(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-6)
    # deepbet's nets end in a softmax over (background, brain); the head is found in the middle of the field.
    np.testing.assert_allclose(output.sum(axis=1), 1.0, atol=1e-4)
    brain = output[0, 1] > 0.5
    assert 0.02 < brain.mean() < 0.5
    assert brain[48:80, 48:80, 48:80].mean() > 0.5


def test_first_output_of_a_tuple_is_returned(tmp_path: Path) -> None:
    need("torch")
    import torch

    class TwoHeads(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x * 2, x + 1

    path = tmp_path / "two_heads.pt"
    torch.jit.save(torch.jit.script(TwoHeads()), str(path))
    batch = np.arange(8, dtype=np.float32).reshape(1, 1, 2, 2, 2)
    np.testing.assert_array_equal(TorchScriptNetwork(path)(batch), batch * 2)


def test_missing_torch_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(RuntimeUnavailableError) as caught:
        TorchScriptNetwork(tmp_path / "model.pt")
    message = str(caught.value)
    assert "model.pt" in message and 'pip install "deepinfer[torch]"' in message and "torch==2.13.0" in message


def test_a_file_torch_cannot_load_is_a_clear_error(tmp_path: Path) -> None:
    need("torch")
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a TorchScript archive")
    with pytest.raises(PipelineError, match=r"broken\.pt"):
        TorchScriptNetwork(path)


def test_the_torchscript_format_loads_on_torch() -> None:
    from deepinfer.runners import RUNTIMES, load_network
    from deepinfer.runners._runtimes import NATIVE

    assert NATIVE["torchscript"] == "torchscript" and RUNTIMES["torchscript"].reads == "torchscript"
    assert callable(load_network)
