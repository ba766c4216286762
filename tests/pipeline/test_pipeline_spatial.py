"""Spatial steps: the voxels land where they belong, MONAI's grids are reproduced, undo is exact."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from pipeline_helpers import physical_to_index, run_steps_on

from deepinfer._exceptions import PipelineError
from deepinfer.imaging import Geometry, Volume, volume_from_sitk, volume_to_sitk
from deepinfer.pipeline import Tensor
from deepinfer.pipeline._grid import orientation_code
from realparts import need

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def restored(volume: Volume, steps: list[tuple[str, dict[str, object]]]) -> Tensor:
    return run_steps_on(volume, [*steps, ("restore_geometry", {})]).image


@pytest.mark.parametrize("code", ["RAS", "LPS", "SLA", "PIR", "ILP"])
def test_reorient_matches_simpleitk_dicomorient_and_undoes_exactly(odd_grid: Volume, code: str) -> None:
    state = run_steps_on(odd_grid, [("reorient", {"orientation": code})])
    reference = volume_from_sitk(sitk.DICOMOrient(volume_to_sitk(odd_grid), code))
    assert orientation_code(state.image.geometry) == code
    assert state.image.geometry == reference.geometry
    np.testing.assert_array_equal(state.image.data[0], reference.array)

    back = restored(odd_grid, [("reorient", {"orientation": code})])
    assert back.geometry == odd_grid.geometry
    np.testing.assert_array_equal(back.data[0], odd_grid.array)


def test_reoriented_voxels_keep_their_physical_position(odd_grid: Volume) -> None:
    image = run_steps_on(odd_grid, [("reorient", {"orientation": "RAS"})]).image
    index = np.argwhere(np.ones(image.geometry.size, dtype=bool))
    points = (image.geometry.index_to_physical @ np.c_[index, np.ones(len(index))].T)[:3].T
    source = np.rint(physical_to_index(odd_grid.geometry, points)).astype(int)
    np.testing.assert_array_equal(image.data[0][tuple(index.T)], odd_grid.array[tuple(source.T)])


def monai_spacing(volume: Volume, spacing: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """MONAI's Spacing (bilinear, border, align_corners=False) on the volume in RAS, as TAPS uses it."""
    torch = need("torch")
    from monai.data import MetaTensor
    from monai.transforms import Orientation, Spacing

    affine = LPS_TO_RAS @ volume.geometry.index_to_physical
    image = MetaTensor(torch.as_tensor(np.asarray(volume.array, np.float32)[None]), affine=torch.as_tensor(affine))
    result = Spacing(pixdim=spacing, mode="bilinear")(Orientation(axcodes="RAS", labels=None)(image))
    assert isinstance(result, MetaTensor)
    return result.numpy()[0], result.affine.numpy()


@pytest.mark.parametrize("spacing", [(0.8, 0.8, 3.0), (1.3, 0.7, 2.9)])
def test_resample_reproduces_monai_spacing(small_mr: Volume, spacing: tuple[float, float, float]) -> None:
    expected, affine = monai_spacing(small_mr, spacing)
    image = run_steps_on(
        small_mr, [("reorient", {"orientation": "RAS"}), ("resample", {"spacing": list(spacing)})]
    ).image
    assert image.data.shape[1:] == expected.shape
    np.testing.assert_allclose(LPS_TO_RAS @ image.geometry.index_to_physical, affine, atol=1e-9)
    np.testing.assert_allclose(image.data[0], expected, rtol=0, atol=1e-4)


def test_resample_edges_extent_keeps_the_field_of_view(small_mr: Volume) -> None:
    image = run_steps_on(small_mr, [("resample", {"spacing": [2.0, 2.5, 1.25], "extent": "edges"})]).image
    before, after = small_mr.geometry, image.geometry
    assert after.size == (30, 28, 40)
    np.testing.assert_allclose(np.multiply(after.size, after.spacing), np.multiply(before.size, before.spacing))
    centre = [(n - 1) / 2 for n in before.size]
    new_centre = [(n - 1) / 2 for n in after.size]
    np.testing.assert_allclose(
        (before.index_to_physical @ [*centre, 1])[:3], (after.index_to_physical @ [*new_centre, 1])[:3], atol=1e-9
    )


def test_nearest_resampling_keeps_label_values(small_mr: Volume) -> None:
    values = np.asarray(small_mr.array)
    labels = small_mr.with_array((values > 80).astype(np.uint8) + (values > 120).astype(np.uint8))
    image = run_steps_on(labels, [("resample", {"spacing": 1.7, "interpolation": "nearest"})]).image
    assert set(np.unique(image.data)) == {0.0, 1.0, 2.0}


def test_outside_nearest_clamps_and_outside_constant_fills(odd_grid: Volume) -> None:
    # 11 · 2.0 / 4.0 = 5.5 rounds to 6: the last centre lies one input voxel beyond the input's last centre
    coarse = {"spacing": 4.0, "extent": "centers"}
    clamped = run_steps_on(odd_grid, [("resample", coarse)]).image
    filled = run_steps_on(odd_grid, [("resample", {**coarse, "outside": "constant", "fill": -5.0})]).image
    assert clamped.geometry.size[0] == 7
    np.testing.assert_array_equal(filled.data[0, -1], -5.0)
    np.testing.assert_array_equal(filled.data[0, :-1], clamped.data[0, :-1])
    assert clamped.data.min() > 0


def test_resize_sets_the_grid_size_and_undo_restores_the_grid(small_mr: Volume) -> None:
    state = run_steps_on(small_mr, [("resize", {"size": [32, 40, 16]})])
    geometry = state.image.geometry
    assert geometry.size == (32, 40, 16)
    np.testing.assert_allclose(
        np.multiply(geometry.size, geometry.spacing), np.multiply(small_mr.geometry.size, small_mr.geometry.spacing)
    )
    back = restored(small_mr, [("resize", {"size": [32, 40, 16]})])
    assert back.geometry == small_mr.geometry
    assert np.corrcoef(back.data[0].ravel(), small_mr.array.ravel().astype(np.float32))[0, 1] > 0.9


def block_volume(
    start: tuple[int, int, int], stop: tuple[int, int, int], size: tuple[int, int, int] = (20, 16, 12)
) -> Volume:
    array = np.zeros(size, dtype=np.float32)
    array[tuple(slice(a, b) for a, b in zip(start, stop, strict=True))] = 3.0
    geometry = Geometry((5.0, -3.0, 8.0), (0.5, 0.75, 2.0), (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0), size)
    return Volume(array, geometry)


def test_crop_foreground_box_margin_geometry_and_undo_fill() -> None:
    volume = block_volume((5, 4, 3), (9, 10, 6))
    state = run_steps_on(volume, [("crop_foreground", {"threshold": 1.0, "margin": [1, 2, 0], "fill": -1.0})])
    image = state.image
    assert image.geometry.size == (6, 10, 3)
    np.testing.assert_allclose(image.geometry.origin, (volume.geometry.index_to_physical @ [4, 2, 3, 1])[:3])
    np.testing.assert_array_equal(image.data[0], volume.array[4:10, 2:12, 3:6])

    back = restored(volume, [("crop_foreground", {"threshold": 1.0, "margin": [1, 2, 0], "fill": -1.0})])
    assert back.geometry == volume.geometry
    expected = np.full(volume.geometry.size, -1.0, dtype=np.float32)
    expected[4:10, 2:12, 3:6] = volume.array[4:10, 2:12, 3:6]
    np.testing.assert_array_equal(back.data[0], expected)


def test_crop_foreground_margin_beyond_the_border_pads_or_clips() -> None:
    volume = block_volume((0, 4, 3), (3, 16, 6))
    padded = run_steps_on(volume, [("crop_foreground", {"margin": 2})]).image
    assert padded.geometry.size == (7, 16, 7)
    np.testing.assert_allclose(padded.geometry.origin, (volume.geometry.index_to_physical @ [-2, 2, 1, 1])[:3])
    assert (padded.data[0, :2] == 0).all() and (padded.data[0, :, -2:] == 0).all()
    clipped = run_steps_on(volume, [("crop_foreground", {"margin": 2, "clip_to_image": True})]).image
    assert clipped.geometry.size == (5, 14, 7)


def test_crop_foreground_matches_monai_crop_foreground(small_mr: Volume) -> None:
    torch = need("torch")
    from monai.transforms import CropForeground, NormalizeIntensity

    steps: list[tuple[str, dict[str, object]]] = [
        ("normalize_zscore", {"nonzero": True}),
        ("crop_foreground", {"threshold": 0.0, "margin": 5}),
    ]
    image = run_steps_on(small_mr, steps).image
    tensor = torch.as_tensor(np.asarray(small_mr.array, np.float32)[None])
    normalized = NormalizeIntensity(nonzero=True, channel_wise=True)(tensor)
    assert isinstance(normalized, torch.Tensor)
    expected = CropForeground(margin=5)(normalized)
    np.testing.assert_allclose(image.data, np.asarray(expected), atol=1e-5)


def test_crop_foreground_without_foreground_fails_clearly(odd_grid: Volume) -> None:
    with pytest.raises(PipelineError, match="no voxel is above 1000"):
        run_steps_on(odd_grid, [("crop_foreground", {"threshold": 1000})])


def test_pad_to_minimum_and_multiple_then_undo(odd_grid: Volume) -> None:
    state = run_steps_on(odd_grid, [("pad", {"minimum": [14, 9, 7], "multiple": [1, 4, 8], "value": -2.0})])
    image = state.image
    assert image.geometry.size == (14, 12, 8)
    np.testing.assert_array_equal(image.data[0, 1:13, 1:10, 0:7], odd_grid.array)
    assert image.data[0, 0].max() == -2.0
    np.testing.assert_allclose(image.geometry.origin, (odd_grid.geometry.index_to_physical @ [-1, -1, 0, 1])[:3])
    back = restored(odd_grid, [("pad", {"minimum": 16, "mode": "edge"})])
    assert back.geometry == odd_grid.geometry
    np.testing.assert_array_equal(back.data[0], odd_grid.array)


def test_restore_geometry_after_a_chain_is_exact(small_mr: Volume) -> None:
    steps: list[tuple[str, dict[str, object]]] = [
        ("reorient", {"orientation": "PIR"}),
        ("resample", {"spacing": [0.9, 2.2, 1.4]}),
        ("crop_foreground", {"threshold": 60, "margin": 3}),
        ("pad", {"multiple": 16}),
        ("resize", {"size": [24, 24, 24]}),
    ]
    back = restored(small_mr, steps)
    assert back.geometry == small_mr.geometry
    assert back.data.shape == (1, *small_mr.geometry.size)


def test_undo_refuses_an_image_on_another_grid(odd_grid: Volume) -> None:
    state = run_steps_on(odd_grid, [("pad", {"minimum": 16})])
    state.image = Tensor(np.zeros((1, 16, 16, 16), np.float32), state.image.geometry.with_size((16, 16, 16)))
    state.image = Tensor(
        state.image.data, Geometry((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), state.image.geometry.direction, (16, 16, 16))
    )
    with pytest.raises(PipelineError, match="cannot undo 'pad'"):
        state.undo.pop()(state.image)
