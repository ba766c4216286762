"""Activations, label decisions and connected components."""

from __future__ import annotations

import numpy as np
import pytest
from pipeline_helpers import no_networks, run_steps_on
from scipy import special

from deepinfer._exceptions import PipelineError
from deepinfer.imaging import Geometry, Volume
from deepinfer.pipeline import PipelineState, PipelineStep, Tensor

GRID = Geometry((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0), (8, 8, 8))


def apply(name: str, data: np.ndarray, **params: object) -> np.ndarray:
    volume = Volume(np.zeros(GRID.size, np.float32), GRID)
    state = PipelineState(Tensor(data.astype(np.float32), GRID), volume, {}, no_networks)
    PipelineStep.lookup(name)(**params).apply(state)
    return state.image.data


def test_sigmoid_and_softmax() -> None:
    logits = np.random.default_rng(1).normal(size=(3, *GRID.size)).astype(np.float32)
    np.testing.assert_allclose(apply("activation", logits, function="sigmoid"), special.expit(logits), rtol=1e-6)
    probabilities = apply("activation", logits, function="softmax")
    np.testing.assert_allclose(probabilities.sum(axis=0), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(probabilities.argmax(axis=0), logits.argmax(axis=0))


def test_threshold_is_strict() -> None:
    values = np.full((1, *GRID.size), 0.55, np.float32)
    values[0, 0, 0, 0] = 0.5500001
    result = apply("threshold", values, value=0.55)
    assert result.sum() == 1 and result[0, 0, 0, 0] == 1


def test_argmax_maps_channels_to_labels() -> None:
    scores = np.zeros((3, *GRID.size), np.float32)
    scores[1, :4] = 1.0
    scores[2, 6:] = 2.0
    result = apply("argmax", scores, labels=[0, 5, 9])
    assert result.shape == (1, *GRID.size)
    assert set(np.unique(result[0, :4])) == {5} and set(np.unique(result[0, 6:])) == {9}
    assert set(np.unique(result[0, 4:6])) == {0}
    with pytest.raises(PipelineError, match="2 labels given for 3 channels"):
        apply("argmax", scores, labels=[0, 1])


def two_blobs() -> np.ndarray:
    mask = np.zeros((1, *GRID.size), np.float32)
    mask[0, 0:3, 0:3, 0:3] = 2.0  # 27 voxels
    mask[0, 3, 3, 3] = 2.0  # touches the first blob at a corner only
    mask[0, 6:8, 6:8, 5:8] = 2.0  # 12 voxels, apart
    return mask


def test_largest_component_uses_the_connectivity() -> None:
    kept_26 = apply("largest_component", two_blobs(), connectivity=26)
    assert kept_26.sum() == 2.0 * 28 and kept_26[0, 3, 3, 3] == 2.0
    kept_6 = apply("largest_component", two_blobs(), connectivity=6)
    assert kept_6.sum() == 2.0 * 27 and kept_6[0, 3, 3, 3] == 0


def test_fill_holes_per_label(small_mr: Volume) -> None:
    shell = np.zeros((1, *GRID.size), np.float32)
    shell[0, 1:7, 1:7, 1:7] = 3.0
    shell[0, 2:6, 2:6, 2:6] = 0.0
    filled = apply("fill_holes", shell)
    assert (filled[0, 1:7, 1:7, 1:7] == 3.0).all() and filled.sum() == 3.0 * 216

    brain = (np.asarray(small_mr.array) > 90).astype(np.float32)
    state = run_steps_on(small_mr.with_array(brain), [("fill_holes", {})])
    assert state.image.data.sum() >= brain.sum()
