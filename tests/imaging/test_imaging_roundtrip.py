"""Real volumes survive write → read with exactly their geometry, voxels and voxel type, in every format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from imaging_helpers import rotation_direction, with_geometry

from deepinfer.imaging import SUPPORTED_SUFFIXES, Volume, read_volume, volume_from_sitk, volume_to_sitk, write_volume

EXACT_OBLIQUE_SUFFIXES = [s for s in SUPPORTED_SUFFIXES if not s.startswith(".nii")]


def assert_identical(read: Volume, expected: Volume) -> None:
    assert read.geometry == expected.geometry  # bit for bit: dataclass equality of the float tuples
    assert read.array.dtype == expected.array.dtype
    np.testing.assert_array_equal(read.array, expected.array)


def roundtrip(volume: Volume, folder: Path, suffix: str, **options: bool) -> Volume:
    path = folder / f"roundtrip{suffix}"
    write_volume(volume, path, **options)
    return read_volume(path)


def test_colin27_reads_with_its_header_geometry(colin27: Path, colin27_volume: Volume) -> None:
    g = colin27_volume.geometry
    assert g.size == (181, 217, 181)
    assert g.spacing == (1.0, 1.0, 1.0)
    assert g.origin == (90.0, 125.0, -71.0)
    np.testing.assert_array_equal(g.direction_matrix, np.diag([-1.0, -1.0, 1.0]))  # LPS from a RAS sform
    assert colin27_volume.array.dtype == np.uint8
    assert colin27_volume.metadata["format"] == "NIfTI"
    # the array is the transpose of SimpleITK's [k, j, i] array of the same file
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(colin27)))
    np.testing.assert_array_equal(colin27_volume.array, reference.transpose(2, 1, 0))


@pytest.mark.parametrize("suffix", SUPPORTED_SUFFIXES)
def test_colin27_roundtrips_bit_for_bit(colin27_volume: Volume, tmp_path: Path, suffix: str) -> None:
    assert_identical(roundtrip(colin27_volume, tmp_path, suffix), colin27_volume)


@pytest.mark.parametrize("suffix", SUPPORTED_SUFFIXES)
def test_reoriented_colin27_roundtrips_bit_for_bit(colin27_volume: Volume, tmp_path: Path, suffix: str) -> None:
    """Colin27 reoriented by ITK to LAS with its axes permuted (a non-identity, non-diagonal direction)."""
    image = sitk.DICOMOrient(volume_to_sitk(colin27_volume), "ASL")
    reoriented = volume_from_sitk(image)
    assert not np.allclose(reoriented.geometry.direction_matrix, np.diag(np.diag(reoriented.geometry.direction_matrix)))
    assert_identical(roundtrip(reoriented, tmp_path, suffix), reoriented)


@pytest.mark.parametrize("suffix", EXACT_OBLIQUE_SUFFIXES)
def test_oblique_grid_roundtrips_bit_for_bit(colin27_head: Volume, tmp_path: Path, suffix: str) -> None:
    """An oblique grid with spacings and origin that no float32 holds: exact in NRRD (through the exact-geometry
    key) and MetaImage (full doubles)."""
    oblique = with_geometry(
        colin27_head, origin=(-12.3, 45.67, 0.1), spacing=(0.9, 1.1, 3.3), direction=rotation_direction(17, 31)
    )
    assert_identical(roundtrip(oblique, tmp_path, suffix), oblique)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_keeps_an_oblique_grid_to_float32_precision(colin27_head: Volume, tmp_path: Path, suffix: str) -> None:
    """NIfTI stores float32: origin and spacing come back as their float32 values, the direction within 1e-6
    (ITK re-orthogonalises the float32 sform on reading, so an oblique direction is not a fixed point); a second
    trip through NIfTI keeps origin and spacing bit for bit (they already are float32)."""
    oblique = with_geometry(
        colin27_head, origin=(-12.3, 45.67, 0.1), spacing=(0.9, 1.1, 3.3), direction=rotation_direction(17, 31)
    )
    once = roundtrip(oblique, tmp_path, suffix)
    np.testing.assert_allclose(once.geometry.direction, oblique.geometry.direction, rtol=0, atol=1e-6)
    assert once.geometry.origin == tuple(float(np.float32(v)) for v in oblique.geometry.origin)
    assert once.geometry.spacing == tuple(float(np.float32(v)) for v in oblique.geometry.spacing)
    np.testing.assert_array_equal(once.array, oblique.array)
    twice = roundtrip(once, tmp_path / "again", suffix)
    assert (twice.geometry.origin, twice.geometry.spacing) == (once.geometry.origin, once.geometry.spacing)
    np.testing.assert_allclose(twice.geometry.direction, once.geometry.direction, rtol=0, atol=1e-6)


def test_nrrd_header_edited_by_another_tool_wins_over_the_exact_key(colin27_head: Volume, tmp_path: Path) -> None:
    path = tmp_path / "edited.nrrd"
    write_volume(colin27_head, path, compress=False)
    header, _, data = path.read_bytes().partition(b"\n\n")
    old_origin = "space origin: ({:g},{:g},{:g})".format(*colin27_head.geometry.origin).encode()
    assert old_origin in header
    path.write_bytes(header.replace(old_origin, b"space origin: (1,2,3)") + b"\n\n" + data)
    assert read_volume(path).geometry.origin == (1.0, 2.0, 3.0)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_voxel_type_is_kept(colin27_head: Volume, tmp_path: Path, suffix: str, dtype: type) -> None:
    volume = colin27_head.with_array(colin27_head.array.astype(dtype))
    assert_identical(roundtrip(volume, tmp_path, suffix), volume)


def test_brain_mask_is_written_as_uint8(colin27_brain: Path, tmp_path: Path) -> None:
    brain = read_volume(colin27_brain)
    mask = brain.with_array(np.asarray(brain.array) > 0)  # bool: SimpleITK has no bool pixel type
    written = roundtrip(mask, tmp_path, ".nii.gz")
    assert written.array.dtype == np.uint8
    assert set(np.unique(written.array).tolist()) == {0, 1}
    np.testing.assert_array_equal(written.array, mask.array)
    assert written.geometry == brain.geometry


@pytest.mark.parametrize("suffix", [".mha", ".nrrd"])
def test_uncompressed_roundtrip(colin27_head: Volume, tmp_path: Path, suffix: str) -> None:
    assert_identical(roundtrip(colin27_head, tmp_path, suffix, compress=False), colin27_head)


def test_single_time_point_4d_image_reads_as_3d(colin27_head: Volume, tmp_path: Path) -> None:
    path = tmp_path / "one_time_point.mha"
    sitk.WriteImage(sitk.JoinSeries([volume_to_sitk(colin27_head)]), str(path))
    volume = read_volume(path)
    assert volume.geometry == colin27_head.geometry
    np.testing.assert_array_equal(volume.array, colin27_head.array)
