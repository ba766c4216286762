"""The overlay PNG: exact size, radiological orientation, and outlines that sit on the mask boundary."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from scipy import ndimage

from deepinfer.imaging import Geometry, Volume
from deepinfer.report import Panel, overlay_panels, render_overlay, render_scores

OUTLINE = "#00ff00"  # pure green: never produced by the grey image
SIZE = (1500, 560)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR chunk."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def read_rgb(path: Path) -> npt.NDArray[np.float32]:
    from matplotlib.image import imread

    return np.asarray(imread(str(path)), dtype=np.float32)[..., :3]


def green_pixels(rgb: npt.NDArray[np.float32], panel: Panel) -> npt.NDArray[np.bool_]:
    box = panel.box
    crop = rgb[box.top : box.top + box.height, box.left : box.left + box.width]
    return (crop[..., 1] > 0.75) & (crop[..., 0] < 0.35) & (crop[..., 2] < 0.35)


def pixel_to_voxel(
    panel: Panel, ys: npt.NDArray[np.int64], xs: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    rows, cols = panel.mask.shape
    row = np.floor((ys + 0.5) * rows / panel.box.height).astype(np.int64)
    col = np.floor((xs + 0.5) * cols / panel.box.width).astype(np.int64)
    return np.clip(row, 0, rows - 1), np.clip(col, 0, cols - 1)


@pytest.fixture(scope="module")
def colin(colin27: Path, colin27_brain: Path) -> tuple[Volume, Volume]:
    import SimpleITK as sitk

    from deepinfer.imaging._convert import volume_from_sitk

    image = volume_from_sitk(sitk.ReadImage(str(colin27)))
    brain = volume_from_sitk(sitk.ReadImage(str(colin27_brain)))
    return image, brain.with_array((np.asarray(brain.array) > 0).astype(np.uint8))


@pytest.fixture(scope="module")
def colin_png(colin: tuple[Volume, Volume], tmp_path_factory: pytest.TempPathFactory) -> Path:
    image, mask = colin
    path = tmp_path_factory.mktemp("overlay") / "colin27.png"
    returned = render_overlay(image, mask, [(1, "brain", OUTLINE)], "ch2.nii.gz", "deepbet 1.0.2", path)
    assert returned == path
    return path


def test_png_has_the_requested_pixel_size(colin_png: Path) -> None:
    assert png_size(colin_png) == SIZE
    assert read_rgb(colin_png).shape[:2] == (SIZE[1], SIZE[0])
    assert [p.name for p in colin_png.parent.iterdir()] == [colin_png.name]  # no temporary left behind


def test_custom_size_is_exact(colin: tuple[Volume, Volume], tmp_path: Path) -> None:
    image, mask = colin
    path = render_overlay(image, mask, [(1, "brain", OUTLINE)], "t", "c", tmp_path / "small.png", (777, 333))
    assert png_size(path) == (777, 333)


def test_outline_pixels_lie_on_the_mask_boundary(colin: tuple[Volume, Volume], colin_png: Path) -> None:
    image, mask = colin
    rgb = read_rgb(colin_png)
    for panel in overlay_panels(image, mask, SIZE):
        inside = panel.mask == 1
        green = green_pixels(rgb, panel)
        ys, xs = np.nonzero(green)
        assert ys.size > 500, f"{panel.name}: only {ys.size} outline pixels"
        # Precision: each outline pixel is within one voxel (≈2.4 px here) of an edge between in and out.
        near_edge = ndimage.binary_dilation(inside) & ~ndimage.binary_erosion(inside, border_value=0)
        rows, cols = pixel_to_voxel(panel, ys, xs)
        off = ~near_edge[rows, cols]
        assert off.sum() == 0, f"{panel.name}: {off.sum()} outline pixels away from the mask boundary"
        # Recall: boundary voxels have an outline pixel within 2 px of their centre.
        edge_rows, edge_cols = np.nonzero(inside & ~ndimage.binary_erosion(inside, border_value=0))
        near_green = ndimage.binary_dilation(green, iterations=2)
        py = ((edge_rows + 0.5) * panel.box.height / panel.mask.shape[0]).astype(np.int64)
        px = ((edge_cols + 0.5) * panel.box.width / panel.mask.shape[1]).astype(np.int64)
        assert near_green[py, px].mean() > 0.95, panel.name


def test_empty_mask_draws_no_outline(colin: tuple[Volume, Volume], tmp_path: Path) -> None:
    image, mask = colin
    path = render_overlay(
        image,
        mask.with_array(np.zeros_like(mask.array)),
        [(1, "brain", OUTLINE)],
        "empty",
        "model 1.0",
        tmp_path / "empty.png",
    )
    assert png_size(path) == SIZE
    rgb = read_rgb(path)
    for panel in overlay_panels(image, mask.with_array(np.zeros_like(mask.array)), SIZE):
        assert not green_pixels(rgb, panel).any(), panel.name
        assert panel.image.std() > 0, "the image is drawn even when the mask is empty"


def test_empty_mask_cuts_through_the_image_centre() -> None:
    array = np.arange(9 * 10 * 11, dtype=np.float32).reshape(9, 10, 11)
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    image = Volume(array, Geometry((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), identity, (9, 10, 11)))
    axial, coronal, sagittal = overlay_panels(image, image.with_array(np.zeros((9, 10, 11), np.uint8)))
    np.testing.assert_array_equal(axial.image, array[:, :, 5].T)
    np.testing.assert_array_equal(coronal.image, array[:, 5, :].T[::-1])
    np.testing.assert_array_equal(sagittal.image, array[4, :, :].T[::-1])


# ---------------------------------------------------------------------------------------- orientation


def _lps_phantom() -> tuple[Volume, Volume]:
    """An anisotropic LPS-stored phantom with a marker in the left-anterior-superior corner."""
    shape = (20, 30, 40)
    image = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    mask = np.zeros(shape, np.uint8)
    mask[14:18, 3:7, 30:35] = 1  # high i = left, low j = anterior, high k = superior
    geometry = Geometry((10.0, -20.0, 30.0), (1.0, 2.0, 3.0), (1, 0, 0, 0, 1, 0, 0, 0, 1), shape)
    return Volume(image, geometry), Volume(mask, geometry)


def _restored(volume: Volume, permutation: tuple[int, int, int], flips: tuple[int, ...]) -> Volume:
    """The same physical image stored with axes permuted and flipped (geometry adjusted to match)."""
    geometry = volume.geometry
    array = np.transpose(volume.array, permutation)
    direction = geometry.direction_matrix[:, permutation].copy()
    spacing = np.asarray(geometry.spacing)[list(permutation)]
    origin = np.asarray(geometry.origin, dtype=np.float64)
    for axis in flips:
        origin = origin + direction[:, axis] * spacing[axis] * (array.shape[axis] - 1)
        direction[:, axis] *= -1
        array = np.flip(array, axis)
    size = (array.shape[0], array.shape[1], array.shape[2])
    stored = Geometry(
        (origin[0], origin[1], origin[2]),
        (spacing[0], spacing[1], spacing[2]),
        tuple(direction.reshape(-1)),
        size,
    )
    return Volume(np.ascontiguousarray(array), stored)


def test_panels_follow_the_radiological_convention() -> None:
    image, mask = _lps_phantom()
    axial, coronal, sagittal = overlay_panels(image, mask)

    def centre(panel: Panel) -> tuple[float, float]:
        rows, cols = np.nonzero(panel.mask)
        return rows.mean() / panel.mask.shape[0], cols.mean() / panel.mask.shape[1]

    assert centre(axial)[0] < 0.5 and centre(axial)[1] > 0.5  # anterior up, patient's left on the right
    assert centre(coronal)[0] < 0.5 and centre(coronal)[1] > 0.5  # superior up, left on the right
    assert centre(sagittal)[0] < 0.5 and centre(sagittal)[1] < 0.5  # superior up, anterior on the left
    assert (axial.pixel_mm, coronal.pixel_mm, sagittal.pixel_mm) == ((2.0, 1.0), (3.0, 1.0), (3.0, 2.0))
    for panel in (axial, coronal, sagittal):
        height_mm, width_mm = panel.extent_mm
        assert abs(panel.box.width / panel.box.height - width_mm / height_mm) < 0.02


@pytest.mark.parametrize(("permutation", "flips"), [((0, 1, 2), (0, 1)), ((2, 0, 1), ()), ((1, 2, 0), (2,))])
def test_panels_do_not_depend_on_storage_order(permutation: tuple[int, int, int], flips: tuple[int, ...]) -> None:
    image, mask = _lps_phantom()
    expected = overlay_panels(image, mask)
    actual = overlay_panels(_restored(image, permutation, flips), _restored(mask, permutation, flips))
    for want, got in zip(expected, actual, strict=True):
        np.testing.assert_array_equal(got.image, want.image)
        np.testing.assert_array_equal(got.mask, want.mask)
        assert got.box == want.box


def test_mask_on_another_grid_is_refused() -> None:
    image, mask = _lps_phantom()
    grid = mask.geometry
    shifted = Geometry((11.0, -20.0, 30.0), grid.spacing, grid.direction, grid.size)
    with pytest.raises(ValueError, match="grid"):
        overlay_panels(image, Volume(mask.array, shifted))


# ---------------------------------------------------------------------------------------------- scores


def test_scores_chart(tmp_path: Path) -> None:
    path = render_scores(
        {"normal": 0.1, "benign": 0.25, "malignant": 0.65},
        "lesion.nii.gz",
        "demo 1.0.0",
        tmp_path / "scores.png",
    )
    assert png_size(path) == (900, 500)
    rgb = read_rgb(path)
    best = np.all(np.abs(rgb - np.array([0xF5, 0xA6, 0x23]) / 255) < 0.02, axis=-1)
    assert best.sum() > 1000  # the highest score's bar is drawn in the highlight colour
    assert png_size(render_scores({"only": 1.0}, "t", "c", tmp_path / "one.png", (400, 300))) == (400, 300)


def test_scores_need_a_class(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one"):
        render_scores({}, "t", "c", tmp_path / "none.png")
    assert not list(tmp_path.iterdir())
