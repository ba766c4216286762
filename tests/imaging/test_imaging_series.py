"""DICOM series selection and the slice-grid checks, on Colin27 written as DICOM series by the tests.

A folder holds an axial series (T1 MPRAGE) and a sagittal series of the same head (a reformat, DERIVED); the
card's rule or ``series_uid`` chooses; ambiguity and no match list both; broken grids are refused."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from imaging_helpers import pydicom_test_file

from deepinfer._exceptions import InputError
from deepinfer.card import SeriesRule
from deepinfer.imaging import Volume, read_volume, volume_from_sitk
from dicom_series import UID_ROOT, colin27_block, move_slice, sagittal, set_orientation, tilt, write_series

AXIAL = f"{UID_ROOT}.1"
SAGITTAL = f"{UID_ROOT}.2"
DICOM_DECIMALS = 1e-4


@pytest.fixture(scope="module")
def block(colin27: Path) -> Any:
    return colin27_block()


@pytest.fixture
def two_series(block: Any, tmp_path: Path) -> Path:
    folder = tmp_path / "study"
    write_series(block, folder, AXIAL, description="T1 MPRAGE", prefix="A")
    write_series(
        sagittal(block), folder, SAGITTAL, description="T1 sag reformat", image_type="DERIVED\\SECONDARY", prefix="S"
    )
    return folder


def _expected(image: Any) -> Volume:
    return volume_from_sitk(image)


def test_rule_picks_the_axial_series_with_exact_geometry(block: Any, two_series: Path) -> None:
    volume = read_volume(two_series, series=SeriesRule(modality="MR", orientation="axial"))
    expected = _expected(block)
    assert volume.metadata["dicom_series_uid"] == AXIAL
    assert volume.geometry.same_as(expected.geometry, tolerance=DICOM_DECIMALS)
    np.testing.assert_array_equal(volume.array, expected.array)  # shuffled file names, sorted by position
    assert "2 DICOM series" in volume.metadata["note"]


def test_rule_on_description_and_image_type_picks_the_sagittal_series(block: Any, two_series: Path) -> None:
    rule = SeriesRule(description="sag", image_type_include=["DERIVED"], min_slices=10)
    volume = read_volume(two_series, series=rule)
    expected = _expected(sagittal(block))
    assert volume.metadata["dicom_series_uid"] == SAGITTAL
    assert volume.geometry.size == (48, 16, 40)
    assert volume.geometry.same_as(expected.geometry, tolerance=DICOM_DECIMALS)
    np.testing.assert_array_equal(volume.array, expected.array)


def test_series_uid_picks_without_a_rule(two_series: Path) -> None:
    assert read_volume(two_series, series_uid=SAGITTAL).metadata["dicom_series_uid"] == SAGITTAL


def test_two_series_without_a_rule_are_ambiguous_and_listed(two_series: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_volume(two_series)
    message = str(caught.value)
    assert message.startswith(f"{two_series}: holds 2 DICOM series")
    assert f"{AXIAL}  'T1 MPRAGE'  MR  16 slice(s)" in message
    assert f"{SAGITTAL}  'T1 sag reformat'  MR  40 slice(s)" in message
    assert "--series UID" in message


def test_equal_matches_are_ambiguous(two_series: Path) -> None:
    with pytest.raises(InputError, match="2 DICOM series meet the card's rule \\(modality MR\\) equally") as caught:
        read_volume(two_series, series=SeriesRule(modality="MR"))
    assert AXIAL in str(caught.value) and SAGITTAL in str(caught.value)


def test_no_match_says_why_for_each_series(two_series: Path) -> None:
    rule = SeriesRule(modality="CT", required_tags=["ContrastBolusAgent"])
    with pytest.raises(InputError, match="none of its 2 DICOM series meets the card's rule") as caught:
        read_volume(two_series, series=rule)
    assert "modality MR, not CT; no ContrastBolusAgent" in str(caught.value)
    assert "--series UID" in str(caught.value)


def test_unknown_series_uid_lists_the_series(two_series: Path) -> None:
    with pytest.raises(InputError, match=r"no DICOM series 1\.2\.3 in it") as caught:
        read_volume(two_series, series_uid="1.2.3")
    assert AXIAL in str(caught.value)


def test_zip_of_a_series_in_subfolders(block: Any, tmp_path: Path) -> None:
    files = write_series(block, tmp_path / "raw", AXIAL)
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in files:
            out.write(path, f"patient/study/series/{path.name}")
        out.writestr("patient/README.txt", "not DICOM")
    volume = read_volume(archive)
    assert volume.metadata["dicom_series_uid"] == AXIAL
    np.testing.assert_array_equal(volume.array, _expected(block).array)


def test_zip_with_a_traversal_member_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("../evil.dcm", b"x")
    with pytest.raises(InputError, match=r"evil.zip: refused: member refused: .*'\.\.'"):
        read_volume(archive)
    assert not (tmp_path.parent / "evil.dcm").exists()


def test_pattern_sees_at_most_64_characters(two_series: Path) -> None:
    assert SeriesRule.text_matches("MPRAGE", "T1 MPRAGE")
    assert not SeriesRule.text_matches("tail", "x" * 64 + "tail")


@pytest.mark.parametrize("pattern", ["(a+)+b", "(\\w)\\1", "(?=a)", "a*b*c*d*", "x" * 129, "["], ids=str.__len__)
def test_unsafe_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"pattern|regular expression"):
        SeriesRule(description=pattern)


# --- the grid checks ----------------------------------------------------------------------------------------


@pytest.fixture
def axial(block: Any, tmp_path: Path) -> list[Path]:
    return write_series(block, tmp_path / "series", AXIAL)


def _refused(folder: Path, match: str) -> str:
    with pytest.raises(InputError, match=match) as caught:
        read_volume(folder)
    assert str(caught.value).startswith(f"{folder}: DICOM series {AXIAL}: ")
    return str(caught.value)


def test_gantry_tilt_is_refused(axial: list[Path]) -> None:
    tilt(axial, 0.27)  # 15° at 1 mm per slice
    assert "about 15.1°" in _refused(axial[0].parent, "sheared \\(gantry tilt")


def test_gantry_tilt_tag_is_refused(axial: list[Path]) -> None:
    from dicom_series import edit_header

    edit_header(axial[0], lambda d: setattr(d, "GantryDetectorTilt", "12.5"))
    _refused(axial[0].parent, "gantry tilt of 12.5°")


def test_duplicate_positions_are_refused(axial: list[Path]) -> None:
    move_slice(axial[5], (0.0, 0.0, -1.0))  # onto slice 4
    _refused(axial[0].parent, "two slices at the same position")


def test_missing_slice_is_refused(axial: list[Path]) -> None:
    axial[7].unlink()
    message = _refused(axial[0].parent, "1 slice\\(s\\) missing between")
    assert "2.0000 mm apart, the series' step is 1.0000 mm" in message


def test_non_uniform_spacing_is_refused(axial: list[Path]) -> None:
    for path in axial[8:]:
        move_slice(path, (0.0, 0.0, 0.5))
    _refused(axial[0].parent, "non-uniform slice spacing: 1.5000 mm between")


def test_mixed_orientations_are_refused(axial: list[Path]) -> None:
    set_orientation(axial[3], (1.0, 0.0, 0.0, 0.0, 0.0, -1.0))
    _refused(axial[0].parent, "mixed slice orientations")


def test_position_jitter_within_the_tolerance_is_read(block: Any, axial: list[Path]) -> None:
    move_slice(axial[4], (0.0, 0.0, 0.004))
    volume = read_volume(axial[0].parent)
    np.testing.assert_array_equal(volume.array, _expected(block).array)


@pytest.mark.parametrize("name", ["rtdose.dcm", "liver_1frame.dcm"])
def test_real_multiframe_objects_are_refused(name: str, tmp_path: Path) -> None:
    (tmp_path / name).write_bytes(pydicom_test_file(name).read_bytes())
    with pytest.raises(InputError, match=f"{name} is a multi-frame \\(enhanced\\) DICOM object"):
        read_volume(tmp_path)


def test_sitk_agrees_on_the_slice_order(block: Any, axial: list[Path]) -> None:
    """GDCM's own sort of the same folder gives the same volume (the order is not ours alone)."""
    names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(axial[0].parent), AXIAL)
    gdcm = volume_from_sitk(sitk.ReadImage(names))
    np.testing.assert_array_equal(read_volume(axial[0].parent).array, gdcm.array)
