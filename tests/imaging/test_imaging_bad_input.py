"""Bad inputs are refused with an InputError (exit code 3) naming the file and the specific problem."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from imaging_helpers import crop

from deepinfer._exceptions import InputError
from deepinfer.imaging import Volume, read_volume, volume_to_sitk, write_volume
from realparts import need


def refused(path: Path, reason: str) -> InputError:
    """Read the path, expect an InputError whose message names the file and matches the reason."""
    with pytest.raises(InputError, match=reason) as caught:
        read_volume(path)
    assert path.name in str(caught.value)
    assert caught.value.exit_code == 3
    return caught.value


def mha_with_header_line(tmp_path: Path, name: str, old: bytes, new: bytes) -> Path:
    """A real (small, uncompressed) MetaImage whose header line ``old`` is replaced by ``new``."""
    path = tmp_path / name
    sitk.WriteImage(sitk.Image(3, 4, 5, sitk.sitkUInt8), str(path), False)
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))
    return path


def test_missing_file(tmp_path: Path) -> None:
    refused(tmp_path / "absent.nii.gz", "no such file or folder")


def test_text_file_named_nifti(tmp_path: Path) -> None:
    path = tmp_path / "notes.nii.gz"
    path.write_bytes(gzip.compress(b"these are not voxels\n"))
    refused(path, "not a readable NIfTI image")
    plain = tmp_path / "plain.nrrd"
    plain.write_text("hello\n")
    refused(plain, "not a readable NRRD image")


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "slice.png"
    path.write_bytes(b"\x89PNG\r\n")
    refused(path, r"unsupported file type \(expected .nii.gz")


def test_truncated_nifti_gz(colin27: Path, tmp_path: Path) -> None:
    """Colin27's gzip stream cut in half: ITK would silently return half-undefined voxels."""
    data = colin27.read_bytes()
    path = tmp_path / "half.nii.gz"
    path.write_bytes(data[: len(data) // 2])
    refused(path, "truncated")


def test_truncated_uncompressed_nifti(colin27_head: Volume, tmp_path: Path) -> None:
    path = tmp_path / "short.nii"
    write_volume(colin27_head, path)
    path.write_bytes(path.read_bytes()[:-100])
    refused(path, "truncated")


def test_truncated_compressed_metaimage(colin27_head: Volume, tmp_path: Path) -> None:
    path = tmp_path / "short.mha"
    write_volume(colin27_head, path)
    path.write_bytes(path.read_bytes()[:-200])
    refused(path, "truncated or corrupt")


def test_multi_member_gzip_nifti_is_read(colin27_head: Volume, tmp_path: Path) -> None:
    """A .nii.gz made of two gzip members (valid gzip) is accepted; cutting its last member is not."""
    plain = tmp_path / "plain.nii"
    write_volume(colin27_head, plain)
    data = plain.read_bytes()
    path = tmp_path / "members.nii.gz"
    path.write_bytes(gzip.compress(data[:5000]) + gzip.compress(data[5000:]))
    np.testing.assert_array_equal(read_volume(path).array, colin27_head.array)
    path.write_bytes(path.read_bytes()[:-300])
    refused(path, "truncated")


def test_4d_nifti_is_refused_with_its_size(colin27_head: Volume, tmp_path: Path) -> None:
    path = tmp_path / "series.nii.gz"
    image = volume_to_sitk(colin27_head)
    sitk.WriteImage(sitk.JoinSeries([image, image, image]), str(path))
    refused(path, r"4D image \(size 48×56×20×3, a series of 3 volumes\); a 3D volume is needed")


def test_2d_image_is_refused(colin27_head: Volume, tmp_path: Path) -> None:
    path = tmp_path / "slice.nii.gz"
    sitk.WriteImage(volume_to_sitk(colin27_head)[:, :, 10], str(path))
    refused(path, r"2D image \(size 48×56\)")


def test_vector_image_is_refused(colin27_head: Volume, tmp_path: Path) -> None:
    path = tmp_path / "rgb.nrrd"
    image = volume_to_sitk(colin27_head.with_array(colin27_head.array.astype(np.uint8)))
    sitk.WriteImage(sitk.Compose(image, image, image), str(path))
    refused(path, "3 components per voxel")


def test_nan_voxel_is_refused_unless_allowed(colin27_volume: Volume, tmp_path: Path) -> None:
    region = crop(colin27_volume, (60, 60, 60), (20, 20, 20))
    array = region.array.astype(np.float32)
    array[3, 4, 5] = np.nan
    array[6, 7, 8] = np.inf
    path = tmp_path / "nan.nii.gz"
    write_volume(region.with_array(array), path)
    refused(path, "2 voxel")
    volume = read_volume(path, allow_nonfinite=True)
    assert np.isnan(volume.array[3, 4, 5]) and np.isinf(volume.array[6, 7, 8])


@pytest.mark.parametrize(
    ("spacing", "reason"), [(b"0 1 1", "spacing"), (b"-1 1 1", "spacing"), (b"nan 1 1", "spacing")]
)
def test_bad_spacing_is_refused(tmp_path: Path, spacing: bytes, reason: str) -> None:
    path = mha_with_header_line(tmp_path, "spacing.mha", b"ElementSpacing = 1 1 1", b"ElementSpacing = " + spacing)
    refused(path, r"invalid voxel spacing .* \(must be positive, finite\)")


def test_empty_dimension_is_refused(tmp_path: Path) -> None:
    path = mha_with_header_line(tmp_path, "empty.mha", b"DimSize = 3 4 5", b"DimSize = 3 0 5")
    refused(path, r"is empty \(size 3×0×5\)")


def test_degenerate_direction_is_refused(tmp_path: Path) -> None:
    path = mha_with_header_line(
        tmp_path, "flat.mha", b"TransformMatrix = 1 0 0 0 1 0 0 0 1", b"TransformMatrix = 1 0 0 1 0 0 0 0 1"
    )
    refused(path, "invalid direction matrix")


@pytest.mark.parametrize("endianness", ["<", ">"])
def test_nifti_nonfinite_voxels_written_by_nibabel(colin27_head: Volume, tmp_path: Path, endianness: str) -> None:
    """ITK 5 reads a NIfTI NaN as 0; the reader still sees it on disk, in either byte order and with scaling,
    and puts it back (scaled like its neighbours) when non-finite voxels are allowed."""
    nibabel = need("nibabel")
    stored = colin27_head.array.astype(np.float32)
    stored[1, 2, 3], stored[40, 50, 19], stored[0, 0, 0] = np.nan, np.inf, -np.inf
    header = nibabel.Nifti1Header(endianness=endianness)
    header.set_data_dtype(np.float32)
    plain = tmp_path / "stat_map.nii"
    nibabel.save(nibabel.Nifti1Image(stored, np.diag([-1.0, -1.0, 1.0, 1.0]), header), plain)
    data = bytearray(plain.read_bytes())
    data[112:120] = struct.pack(f"{endianness}ff", -2.0, 10.0)  # scl_slope, scl_inter: value = -2 × stored + 10
    path = tmp_path / f"stat_map_{'big' if endianness == '>' else 'little'}.nii.gz"
    path.write_bytes(gzip.compress(bytes(data)))
    refused(path, "3 voxel")
    volume = read_volume(path, allow_nonfinite=True)
    np.testing.assert_array_equal(volume.array, stored * np.float32(-2.0) + np.float32(10.0))
    assert np.isnan(volume.array[1, 2, 3]) and volume.array[40, 50, 19] == -np.inf
    assert volume.array[0, 0, 0] == np.inf
