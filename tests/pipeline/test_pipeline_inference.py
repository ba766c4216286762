"""Sliding-window and whole-image inference: MONAI's blending reproduced, progress per window, clear errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pipeline_helpers import run_steps_on

from deepinfer._exceptions import PipelineError
from deepinfer.imaging import Volume
from deepinfer.pipeline import Network, NetworkProvider
from realparts import need


def numpy_network(batch: np.ndarray) -> np.ndarray:
    """Two channels that depend on the whole window (so blending matters)."""
    centred = batch - batch.mean(axis=(2, 3, 4), keepdims=True)
    return np.concatenate([np.tanh(centred / 50), centred * 0.01], axis=1).astype(np.float32)


def monai_reference(array: np.ndarray, roi: list[int], **options: Any) -> np.ndarray:
    torch = need("torch")
    from monai.inferers.utils import sliding_window_inference

    def predictor(window: Any) -> Any:
        return torch.as_tensor(numpy_network(window.numpy()))

    with torch.inference_mode():
        result = sliding_window_inference(torch.as_tensor(array[None, None]), roi, predictor=predictor, **options)
    return np.asarray(result[0])


class Networks(NetworkProvider):
    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, artifact: str) -> Network:
        self.asked.append(artifact)
        return numpy_network


@pytest.mark.parametrize(
    ("roi", "overlap", "blend", "batch_size"),
    [
        ([32, 40, 64], 0.5, "gaussian", 1),  # the last axis is shorter than the window: padded
        ([24, 24, 24], 0.25, "gaussian", 3),
        ([40, 30, 20], 0.6, "constant", 2),
    ],
)
def test_sliding_window_matches_monai(
    small_mr: Volume, roi: list[int], overlap: float, blend: str, batch_size: int
) -> None:
    array = small_mr.array.astype(np.float32)
    params = {"roi": roi, "overlap": overlap, "blend": blend, "batch_size": batch_size}
    networks = Networks()
    image = run_steps_on(small_mr, [("sliding_window", params)], networks=networks).image
    expected = monai_reference(array, roi, sw_batch_size=batch_size, overlap=overlap, mode=blend)
    assert image.data.shape == (2, *small_mr.geometry.size) == expected.shape
    assert image.geometry == small_mr.geometry
    np.testing.assert_allclose(image.data, expected, rtol=0, atol=2e-6)
    assert networks.asked == ["model"]


def test_sliding_window_reports_progress_per_window(small_mr: Volume) -> None:
    events: list[tuple[str, int, int]] = []
    run_steps_on(
        small_mr,
        [("sliding_window", {"roi": [32, 32, 32], "overlap": 0.5, "batch_size": 2})],
        networks=Networks(),
        progress=lambda *event: events.append(event),
    )
    windows = 3 * 4 * 3  # starts 0,16,28 / 0,16,32,38 / 0,16,18
    assert events[0] == ("sliding window", 0, windows)
    assert events[-1] == ("sliding window", windows, windows)
    assert [done for _, done, _ in events] == sorted(done for _, done, _ in events)


def test_infer_runs_the_whole_image(odd_grid: Volume) -> None:
    image = run_steps_on(odd_grid, [("infer", {"network": "model"})], networks=Networks()).image
    np.testing.assert_allclose(image.data, numpy_network(odd_grid.array[None, None])[0])


def test_a_network_returning_the_wrong_shape_is_reported(odd_grid: Volume) -> None:
    def shrink(batch: np.ndarray) -> np.ndarray:
        return batch[:, :, ::2]

    with pytest.raises(PipelineError, match=r"infer: the network returned shape \(1, 1, 6, 9, 7\)"):
        run_steps_on(odd_grid, [("infer", {})], networks=lambda name: shrink)
