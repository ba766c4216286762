"""The ``*_nnunet`` steps against nnU-Net v2's own functions, on a real image (Colin27) where the step reads one.

nnU-Net's functions work on arrays in any axis order, so they are called here on deepinfer's (i, j, k) arrays
directly. Anisotropic grids, several inputs, regions and postprocessing: ``test_nnunet_variant_steps.py``."""

from __future__ import annotations

import numpy as np
import pytest
from pipeline_helpers import run_steps_on

from deepinfer.imaging import Geometry, Volume
from realparts import need


@pytest.fixture
def with_background(small_mr: Volume) -> Volume:
    """The block with a zero border on two sides and a zero hole inside (filled by nnU-Net's mask)."""
    array = np.asarray(small_mr.array, dtype=np.float32).copy()
    array[:5], array[:, -7:] = 0, 0
    array[30:33, 30:33, 20:23] = 0
    return small_mr.with_array(array)


def test_window_starts_and_weights_are_nnunets() -> None:
    need("nnunetv2")
    import torch
    from nnunetv2.inference.sliding_window_prediction import compute_gaussian, compute_steps_for_sliding_window

    from deepinfer.pipeline._nnunet import gaussian_weights, window_starts

    for size, patch, step in ((110, 64, 0.5), (48, 48, 0.5), (97, 40, 0.3), (200, 56, 1.0)):
        assert window_starts(size, patch, step) == compute_steps_for_sliding_window((size,), (patch,), step)[0]
    for window in ((20, 28, 24), (48, 56, 48)):  # the second has weights that torch's float16 rounds twice
        theirs = compute_gaussian(window, 1 / 8, 10, dtype=torch.float16, device=torch.device("cpu"))
        np.testing.assert_array_equal(gaussian_weights(window), theirs.float().numpy())


def test_crop_and_normalization_are_nnunets(with_background: Volume) -> None:
    need("nnunetv2")
    from nnunetv2.preprocessing.cropping.cropping import crop_to_nonzero
    from nnunetv2.preprocessing.normalization.default_normalization_schemes import (
        CTNormalization,
        ZScoreNormalization,
    )

    data = np.asarray(with_background.array, dtype=np.float32)[None]
    cropped, seg, _ = crop_to_nonzero(data.copy())
    statistics = {"mean": 80.0, "std": 20.0, "percentile_00_5": 10.0, "percentile_99_5": 120.0}
    ct = {"scheme": "ct", "mean": 80.0, "std": 20.0, "lower": 10.0, "upper": 120.0}
    for scheme, theirs in (
        ({"scheme": "zscore", "use_mask": True}, ZScoreNormalization(True, {}).run(cropped[0].copy(), seg[0])),
        ({"scheme": "zscore", "use_mask": False}, ZScoreNormalization(False, {}).run(cropped[0].copy(), seg[0])),
        (ct, CTNormalization(False, statistics).run(cropped[0].copy(), seg[0])),
    ):
        steps = [("crop_nonzero", {}), ("normalize_nnunet", {"channels": [scheme]})]
        state = run_steps_on(with_background, steps)
        assert state.image.data.shape[1:] == theirs.shape
        np.testing.assert_allclose(state.image.data[0], theirs, atol=1e-5)
    restored = run_steps_on(with_background, [("crop_nonzero", {}), ("restore_geometry", {})])
    np.testing.assert_array_equal(restored.image.data[0], data[0])


def test_resampling_there_and_back_is_nnunets(small_mr: Volume) -> None:
    need("nnunetv2")
    from nnunetv2.preprocessing.resampling.default_resampling import (
        compute_new_shape,
        resample_data_or_seg_to_shape,
    )

    spacing = [1.6, 1.3, 2.0]
    data = np.asarray(small_mr.array, dtype=np.float32)[None]
    shape = compute_new_shape(data.shape[1:], small_mr.geometry.spacing, spacing)
    theirs = resample_data_or_seg_to_shape(data, shape, small_mr.geometry.spacing, spacing, False, 3, 0, None)
    steps = [("resample_nnunet", {"spacing": spacing, "order": 3, "inverse_order": 1})]
    state = run_steps_on(small_mr, steps)
    np.testing.assert_allclose(state.image.data, theirs, atol=1e-4)
    back = resample_data_or_seg_to_shape(theirs, data.shape[1:], spacing, small_mr.geometry.spacing, False, 1, 0, None)
    restored = run_steps_on(small_mr, [*steps, ("restore_geometry", {})])
    assert restored.image.geometry.same_as(small_mr.geometry)
    np.testing.assert_allclose(restored.image.data, back, atol=1e-4)


def test_the_sliding_window_adds_nnunets_numbers_in_nnunets_order(small_mr: Volume) -> None:
    """Float16 sums depend on their order: with nnU-Net's axis order (windows in its nested loops, mirrored
    predictions in its combinations' order) the step's logits equal ``predict_sliding_window_return_logits``'s
    bit for bit, with a network whose output depends on the position (so every mirror counts); visiting the
    windows in deepinfer's own axis order instead rounds some voxels the other way."""
    need("nnunetv2")
    from types import SimpleNamespace

    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    patch = (12, 10, 16)  # nnU-Net's (z, y, x) order
    field = torch.from_numpy(np.random.default_rng(1).normal(0, 4, patch).astype(np.float32))

    def logits(x: torch.Tensor) -> torch.Tensor:  # elementwise: bit-identical in any memory layout
        return torch.cat([20 * torch.sin(x / 30) + field, x / 17 - field], dim=1)

    predictor = nnUNetPredictor(device=torch.device("cpu"), allow_tqdm=False)

    class Network:  # what the predictor calls on its network
        def to(self, device: torch.device) -> Network:
            return self

        def eval(self) -> None:
            return None

        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            return logits(x)

    predictor.network = Network()
    predictor.configuration_manager = SimpleNamespace(patch_size=list(patch))
    predictor.label_manager = SimpleNamespace(num_segmentation_heads=2)
    predictor.allowed_mirroring_axes = (0, 1, 2)

    def network(batch: np.ndarray) -> np.ndarray:  # deepinfer's (N, C, i, j, k) → nnU-Net's (z, y, x) and back
        result = logits(torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 1, 4, 3, 2)))).numpy()
        return np.ascontiguousarray(result.transpose(0, 1, 4, 3, 2))

    block = np.ascontiguousarray(np.asarray(small_mr.array, dtype=np.float32)[:30, :25, :22])
    geometry = small_mr.geometry
    volume = Volume(block, Geometry(geometry.origin, geometry.spacing, geometry.direction, block.shape))
    data = block[None]
    for mirror in (False, True):
        predictor.use_mirroring = mirror
        theirs = predictor.predict_sliding_window_return_logits(torch.from_numpy(data.transpose(0, 3, 2, 1).copy()))
        expected = theirs.float().numpy().transpose(0, 3, 2, 1)
        found = {}
        for order in ([2, 1, 0], [0, 1, 2]):
            params = {"roi": list(patch[::-1]), "networks": ["model"], "mirror": mirror, "mirror_axes": [2, 1, 0],
                      "accumulate": "float16", "axis_order": order}  # fmt: skip
            state = run_steps_on(volume, [("sliding_window_nnunet", params)], lambda name: network)
            found[str(order)] = state.image.data
        np.testing.assert_array_equal(found["[2, 1, 0]"], expected)
        assert not np.array_equal(found["[0, 1, 2]"], expected)


def test_axis_orders_are_checked() -> None:
    from deepinfer import CardError
    from deepinfer.pipeline import build_steps

    for step, params in (
        ("sliding_window_nnunet", {"roi": 8, "networks": ["model"], "axis_order": [0, 1, 1]}),
        ("resample_nnunet", {"spacing": 1.0, "axis_order": [2, 1]}),
        ("resample_nnunet", {"spacing": 1.0, "axis_order": [True, 0, 2]}),
        ("resample_nnunet", {"spacing": 1.0, "axis_order": ["0", 1, 2]}),  # mixed types: not even sortable
        ("resample_nnunet", {"spacing": 1.0, "axis_order": [None, 1, 2]}),
        ("resample_nnunet", {"spacing": 1.0, "axis_order": [0.0, 1, 2]}),
    ):
        with pytest.raises(CardError, match="axis_order"):
            build_steps([(step, params)], {})
