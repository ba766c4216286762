"""The steps two-stage models need: index-space nearest resize, named percentiles and scaling, channel
selection, NaN clean-up, and crop to the box of an earlier stage's mask (on another grid), undone exactly."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest
from pipeline_helpers import run_steps_on
from scipy import ndimage

from deepinfer._exceptions import CardError, PipelineError
from deepinfer.imaging import Geometry, Volume
from deepinfer.pipeline import PipelineState, Tensor, build_steps
from deepinfer.pipeline._base import Snapshot
from deepinfer.pipeline._grid import nearest_exact_indices
from deepinfer.pipeline._spatial import Resize
from realparts import need

Steps = list[tuple[str, dict[str, Any]]]


def volume_of(array: np.ndarray, spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Volume:
    geometry = Geometry((5.0, -3.0, 2.0), spacing, (-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0), array.shape)
    return Volume(np.asarray(array, dtype=np.float32), geometry)


# ------------------------------------------------------------------------------------- nearest_exact


@pytest.mark.parametrize(("source", "target"), [(181, 128), (217, 128), (171, 256), (256, 171), (2, 55), (7, 7)])
def test_nearest_exact_indices_equal_torch(source: int, target: int) -> None:
    torch = need("torch")
    values = torch.arange(source, dtype=torch.float32).reshape(1, 1, source, 1, 1)
    expected = torch.nn.functional.interpolate(values, (target, 1, 1), mode="nearest-exact").flatten().numpy()
    np.testing.assert_array_equal(nearest_exact_indices(source, target), expected.astype(int))


def test_resize_nearest_exact_equals_torch_and_keeps_the_field_of_view(small_mr: Volume) -> None:
    torch = need("torch")
    image = run_steps_on(small_mr, [("resize", {"size": [32, 41, 77], "interpolation": "nearest_exact"})]).image
    tensor = torch.from_numpy(np.asarray(small_mr.array, dtype=np.float32))[None, None]
    expected = torch.nn.functional.interpolate(tensor, (32, 41, 77), mode="nearest-exact")[0].numpy()
    np.testing.assert_array_equal(image.data, expected)
    assert image.geometry == Resize(size=[32, 41, 77]).target(small_mr.geometry)


def test_resize_nearest_exact_undoes_an_integer_upsampling_exactly(odd_grid: Volume) -> None:
    steps: Steps = [("resize", {"size": [24, 18, 14], "interpolation": "nearest_exact"}), ("restore_geometry", {})]
    state = run_steps_on(odd_grid, steps)
    assert state.image.geometry == odd_grid.geometry
    np.testing.assert_array_equal(state.image.data[0], odd_grid.array)


def test_nearest_exact_is_only_offered_by_resize() -> None:
    with pytest.raises(CardError, match="interpolation"):
        build_steps([("resample", {"spacing": 1.0, "interpolation": "nearest_exact"})], {})
    build_steps([("resize", {"size": 8, "interpolation": "linear", "inverse": "nearest_exact"})], {})


# ------------------------------------------------------------------------- statistics and intensities


def test_percentiles_are_stored_and_scale_to_range_uses_them_on_another_grid(small_mr: Volume) -> None:
    steps: Steps = [
        ("percentiles", {"lower": 2, "upper": 98, "store_as": "range"}),
        ("resize", {"size": 20, "interpolation": "nearest_exact"}),
        ("scale_to_range", {"values": "range", "minimum": -1.0, "maximum": 1.0}),
    ]
    state = run_steps_on(small_mr, steps)
    low, high = np.percentile(np.asarray(small_mr.array), [2, 98])
    assert state.values["range"] == {"low": pytest.approx(low), "high": pytest.approx(high)}
    assert state.image.data.min() == -1.0 and state.image.data.max() == 1.0
    unclipped = run_steps_on(small_mr, [*steps[:2], ("scale_to_range", {"values": "range", "clip": False})])
    assert unclipped.image.data.max() > 1.0


def test_deepbet_normalisation_is_reproduced_by_three_steps(small_mr: Volume) -> None:
    torch = need("torch")
    deepbet_utils = need("deepbet.utils")
    steps: Steps = [
        ("percentiles", {"lower": 0.5, "upper": 99.5, "store_as": "intensity"}),
        ("scale_to_range", {"values": "intensity"}),
        ("normalize_zscore", {"ddof": 1, "scale": 0.226, "shift": 0.449}),
    ]
    image = run_steps_on(small_mr, steps).image
    x = torch.from_numpy(np.asarray(small_mr.array, dtype=np.float32))
    expected = deepbet_utils.normalize(x, x.quantile(0.005), x.quantile(0.995)).numpy()
    np.testing.assert_allclose(image.data[0], expected, rtol=0, atol=1e-5)


def test_zscore_with_ddof_one_uses_the_sample_std(small_mr: Volume) -> None:
    image = run_steps_on(small_mr, [("normalize_zscore", {"ddof": 1})]).image
    values = small_mr.array.astype(np.float64)
    expected = (values - values.mean()) / values.std(ddof=1)
    np.testing.assert_allclose(image.data[0], expected, rtol=0, atol=1e-5)


def test_scale_to_range_without_stored_values_is_a_clear_error(small_mr: Volume) -> None:
    with pytest.raises(PipelineError, match="no values named 'missing'"):
        run_steps_on(small_mr, [("scale_to_range", {"values": "missing"})])


def test_nan_to_num_replaces_nan_and_infinities() -> None:
    array = np.array([np.nan, np.inf, -np.inf, 2.0] * 6).reshape(2, 3, 4)
    data = run_steps_on(volume_of(array), [("nan_to_num", {"nan": -1.0, "posinf": 9.0})]).image.data[0]
    assert np.isfinite(data).all()
    np.testing.assert_array_equal(data.ravel()[:4], [-1.0, 9.0, np.finfo(np.float32).min, 2.0])


def test_select_channel_keeps_one_channel(small_mr: Volume) -> None:
    state = run_steps_on(small_mr, [])
    state.image = state.image.with_data(np.stack([state.image.data[0], -state.image.data[0]]))
    build_steps([("select_channel", {"channel": 1})], {})[0].apply(state)
    np.testing.assert_array_equal(state.image.data, -small_mr.array[None].astype(np.float32))
    with pytest.raises(PipelineError, match="no channel 1"):
        build_steps([("select_channel", {"channel": 1})], {})[0].apply(state)


def test_fill_holes_equals_scipy_binary_fill_holes() -> None:
    rng = np.random.default_rng(3)
    mask = ndimage.binary_opening(rng.random((24, 20, 18)) > 0.4)
    filled = run_steps_on(volume_of(mask), [("fill_holes", {})]).image.data[0]
    np.testing.assert_array_equal(filled > 0, ndimage.binary_fill_holes(mask))


# ------------------------------------------------------------------------------------------ crop_to_mask


def state_with_mask(image: Volume, mask: np.ndarray, mask_geometry: Geometry) -> PipelineState:
    state = run_steps_on(image, [])
    state.slots["mask"] = Snapshot(Tensor(mask[None].astype(np.float32), mask_geometry), ())
    return state


def crop(state: PipelineState, **params: Any) -> PipelineState:
    build_steps([("crop_to_mask", {"slot": "mask", **params})], {})[0].apply(state)
    return state


def test_crop_to_mask_on_the_same_grid_crops_to_the_box_and_undoes_with_fill(small_mr: Volume) -> None:
    mask = np.zeros(small_mr.geometry.size, dtype=bool)
    mask[10:30, 5:41, 20:24] = True
    state = crop(state_with_mask(small_mr, mask, small_mr.geometry), fill=-5.0)
    np.testing.assert_array_equal(state.image.data[0], small_mr.array[10:30, 5:41, 20:24])
    build_steps([("restore_geometry", {})], {})[0].apply(state)
    assert state.image.geometry == small_mr.geometry
    np.testing.assert_array_equal(state.image.data[0], np.where(mask, small_mr.array, -5.0))


def test_crop_to_mask_maps_a_coarse_box_onto_the_fine_grid(odd_grid: Volume) -> None:
    coarse = Resize(size=[6, 3, 7]).target(odd_grid.geometry)  # exactly 2× / 3× / 1× coarser
    mask = np.zeros(coarse.size, dtype=bool)
    mask[1:3, 1:3, 2:6] = True
    state = crop(state_with_mask(odd_grid, mask, coarse))
    np.testing.assert_array_equal(state.image.data[0], odd_grid.array[2:6, 3:9, 2:6])


def test_crop_to_mask_rounds_centre_and_size_half_to_even_as_deepbet(small_mr: Volume) -> None:
    mask = np.zeros(small_mr.geometry.size, dtype=bool)
    mask[12:25, 30:33, 8:40] = True  # 13 and 3 voxels: centres 18.5 → 18, 31.5 → 32
    state = crop(state_with_mask(small_mr, mask, small_mr.geometry))
    np.testing.assert_array_equal(state.image.data[0], small_mr.array[11:24, 30:33, 8:40])


def test_crop_to_mask_finds_the_same_box_through_another_orientation(small_mr: Volume) -> None:
    mask = np.zeros(small_mr.geometry.size, dtype=bool)
    mask[12:26, 30:34, 8:40] = True
    state = run_steps_on(small_mr, [("reorient", {"orientation": "SLP"})])
    state.slots["mask"] = Snapshot(Tensor(mask[None].astype(np.float32), small_mr.geometry), ())
    crop(state)
    build_steps([("restore_geometry", {})], {})[0].apply(state)
    np.testing.assert_array_equal(state.image.data[0], np.where(mask, small_mr.array, 0.0))


def test_projection_threshold_drops_thin_strays(small_mr: Volume) -> None:
    mask = np.zeros(small_mr.geometry.size, dtype=bool)
    mask[10:30, 10:40, 10:40] = True
    mask[50, 60, 0:50] = True  # a one-voxel line: its projections are tiny
    kept = crop(state_with_mask(small_mr, mask, small_mr.geometry)).image.geometry.size
    dropped = crop(state_with_mask(small_mr, mask, small_mr.geometry), projection_threshold=0.02).image.geometry.size
    assert kept == (41, 51, 50) and dropped == (20, 30, 30)


def test_crop_to_mask_errors(small_mr: Volume) -> None:
    with pytest.raises(PipelineError, match="nothing was saved in slot 'mask'"):
        crop(run_steps_on(small_mr, []))
    empty = np.zeros(small_mr.geometry.size, dtype=bool)
    with pytest.raises(PipelineError, match="no voxel above the projection threshold"):
        crop(state_with_mask(small_mr, empty, small_mr.geometry))
    with pytest.raises(CardError, match="margin"):
        build_steps([("crop_to_mask", {"slot": "mask", "margin": -0.1})], {})


@pytest.mark.parametrize("seed", [*range(6), 255])  # 255: a widened size exactly halfway (23.75 × 1.2)
def test_crop_to_mask_box_equals_deepbets_bounding_box(seed: int) -> None:
    torch = need("torch")
    bet = need("deepbet.bet")
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(20, 90, size=3))
    small = np.zeros((16, 16, 16), dtype=np.float32)
    low = rng.integers(0, 8, size=3)
    high = low + rng.integers(3, 8, size=3)  # deepbet needs projections above 2 % of a 16² slice
    small[low[0] : high[0], low[1] : high[1], low[2] : high[2]] = 1.0
    image = volume_of(np.zeros(shape), spacing=(0.9, 1.1, 1.3))
    coarse = Resize(size=16).target(image.geometry)
    state = crop(state_with_mask(image, small, coarse), projection_threshold=0.02, margin=0.1)
    finder = types.SimpleNamespace(get_bbox=bet.BrainExtraction.get_bbox)
    box = bet.BrainExtraction.get_bbox_with_margin(finder, torch.from_numpy(small), shape, 0.1)
    assert state.image.geometry.size == tuple(s.stop - s.start for s in box)
    start = np.linalg.solve(image.geometry.index_to_physical, [*state.image.geometry.origin, 1.0])[:3]
    np.testing.assert_allclose(start, [s.start for s in box], atol=1e-9)


@pytest.mark.parametrize("connectivity", [6, 18, 26])
def test_largest_component_equals_scipy_labelling(connectivity: int) -> None:
    rng = np.random.default_rng(connectivity)
    mask = rng.random((30, 26, 22)) > 0.6
    kept = run_steps_on(volume_of(mask), [("largest_component", {"connectivity": connectivity})]).image.data[0]
    rank = {6: 1, 18: 2, 26: 3}[connectivity]
    labels, _ = ndimage.label(mask, structure=ndimage.generate_binary_structure(3, rank))
    largest = np.argmax(np.bincount(labels.ravel())[1:]) + 1
    np.testing.assert_array_equal(kept > 0, labels == largest)
