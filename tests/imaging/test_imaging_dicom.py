"""DICOM series folders: a real volume written as a scanner would, and pydicom's own real DICOM files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from imaging_helpers import crop, pydicom_test_file, rotation_direction, with_geometry, write_dicom_series

from deepinfer._exceptions import InputError
from deepinfer.imaging import Volume, read_volume, volume_to_sitk
from realparts import need

DICOM_DECIMALS = 1e-4  # positions are written as decimal strings (DS, at most 16 characters)


def test_series_folder_reads_back_the_volume(colin27_head: Volume, tmp_path: Path) -> None:
    folder = tmp_path / "series"
    files = write_dicom_series(volume_to_sitk(colin27_head), folder, "1.2.826.0.1.3680043.2.1125.1.1")
    assert len(files) == colin27_head.geometry.size[2]
    volume = read_volume(folder)
    assert volume.geometry.size == colin27_head.geometry.size
    assert volume.geometry.same_as(colin27_head.geometry, tolerance=DICOM_DECIMALS)
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, colin27_head.array)  # slices sorted by position, not name
    assert volume.metadata["format"] == "DICOM"
    assert volume.metadata["dicom_series_uid"] == "1.2.826.0.1.3680043.2.1125.1.1"
    assert volume.metadata["dicom_files"] == str(len(files))
    assert volume.metadata["dicom_modality"] == "MR"
    assert "note" not in volume.metadata


def test_oblique_series_keeps_its_geometry(colin27_head: Volume, tmp_path: Path) -> None:
    oblique = with_geometry(
        colin27_head, origin=(-40.25, 12.5, 3.75), spacing=(0.8, 0.8, 2.5), direction=rotation_direction(20, 10)
    )
    folder = tmp_path / "oblique"
    write_dicom_series(volume_to_sitk(oblique), folder, "1.2.826.0.1.3680043.2.1125.1.2")
    volume = read_volume(folder)
    assert volume.geometry.same_as(oblique.geometry, tolerance=DICOM_DECIMALS)
    np.testing.assert_array_equal(volume.array, oblique.array)


def test_folder_with_several_series_is_refused_unless_one_is_picked(colin27_head: Volume, tmp_path: Path) -> None:
    """Never the largest by default: two series and no rule list both; ``series_uid`` picks one."""
    folder = tmp_path / "mixed"
    first_slices = crop(colin27_head, (0, 0, 0), (48, 56, 5))
    write_dicom_series(volume_to_sitk(first_slices), folder / "a", "1.2.826.0.1.3680043.2.1125.2.1")
    write_dicom_series(volume_to_sitk(colin27_head), folder / "b", "1.2.826.0.1.3680043.2.1125.2.2")
    for file in [*sorted((folder / "a").iterdir()), *sorted((folder / "b").iterdir())]:
        shutil.move(file, folder / f"{file.parent.name}_{file.name}")
    with pytest.raises(InputError, match="holds 2 DICOM series") as caught:
        read_volume(folder)
    assert "1.2.826.0.1.3680043.2.1125.2.1" in str(caught.value)
    volume = read_volume(folder, series_uid="1.2.826.0.1.3680043.2.1125.2.2")
    assert volume.geometry.size == colin27_head.geometry.size
    assert "2 DICOM series" in volume.metadata["note"]


def test_folder_without_dicom_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image\n")
    with pytest.raises(InputError, match="no DICOM image series") as caught:
        read_volume(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_real_single_slice_mr_reads_as_one_slice_volume(tmp_path: Path) -> None:
    """pydicom's MR_small.dcm (64×64 MR slice): a folder holding one slice is a volume one voxel thick."""
    pydicom = need("pydicom", reason="the real DICOM test files ship with pydicom")
    source = pydicom_test_file("MR_small.dcm")
    shutil.copy(source, tmp_path / "MR_small.dcm")
    volume = read_volume(tmp_path)
    dataset = pydicom.dcmread(source)
    assert volume.geometry.size == (dataset.Columns, dataset.Rows, 1)
    np.testing.assert_allclose(volume.geometry.origin, [float(v) for v in dataset.ImagePositionPatient])
    between_rows, between_columns = (float(v) for v in dataset.PixelSpacing)
    assert volume.geometry.spacing[:2] == pytest.approx((between_columns, between_rows))  # (x, y)
    assert volume.geometry.spacing[2] == 1.0
    assert volume.metadata["dicom_modality"] == "MR"
    assert volume.array.dtype == dataset.pixel_array.dtype
    np.testing.assert_array_equal(volume.array[:, :, 0], dataset.pixel_array.T)


def test_real_multiframe_dose_is_refused(tmp_path: Path) -> None:
    """pydicom's rtdose.dcm (one file of 15 frames): a multi-frame object is refused, not read by a guess."""
    shutil.copy(pydicom_test_file("rtdose.dcm"), tmp_path / "rtdose.dcm")
    with pytest.raises(InputError, match=r"rtdose\.dcm is a multi-frame"):
        read_volume(tmp_path)
