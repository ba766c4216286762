"""Ultrasound DICOM read as a volume of frames: pydicom-data's real US files (cine, obstetric, JPEG 2000) and
pydicom's own, checked against pydicom's own decoded pixels; a plane classifier run over a real cine."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deepinfer._exceptions import InputError
from deepinfer.imaging import Volume, read_volume
from realparts import need
from ultrasound_files import CINE_US, RGB_US, edited_us, pydicom_data_file, pydicom_file, region, with_regions

LUMA = np.asarray([0.299, 0.587, 0.114], dtype=np.float32)


def _pydicom_pixels(path: Path) -> Any:
    import pydicom

    return pydicom.dcmread(path).pixel_array  # pydicom 3 gives YBR as RGB


def _frames(volume: Volume) -> Any:
    """The volume's planes as pydicom orders them: (frames, rows, columns)."""
    return np.asarray(volume.array).transpose(2, 1, 0)


def test_real_cine_is_a_volume_of_frames_with_region_spacing_and_frame_time() -> None:
    path = pydicom_data_file(CINE_US)
    volume = read_volume(path)
    assert volume.geometry.size == (640, 480, 120)
    assert volume.array.dtype == np.float32
    delta_cm = 0.05104970559477806  # its one B-mode region's PhysicalDeltaX/Y
    assert volume.geometry.spacing == pytest.approx((10 * delta_cm, 10 * delta_cm, 33.333))
    assert volume.geometry.origin == (0.0, 0.0, 0.0)
    assert volume.metadata["third_axis"] == "time" and volume.metadata["frames"] == "120"
    assert volume.metadata["frame_time_ms"] == "33.333" and volume.metadata["dicom_modality"] == "US"
    assert "warning" not in volume.metadata
    rgb = _pydicom_pixels(path)  # (120, 480, 640, 3)
    np.testing.assert_allclose(_frames(volume), rgb.astype(np.float32) @ LUMA, atol=1e-4)


@pytest.mark.parametrize("name", ["US1_UNCR.dcm", "US1_J2KR.dcm"])
def test_rgb_and_jpeg2000_single_frames_without_regions_get_1_mm_and_a_warning(name: str) -> None:
    path = pydicom_data_file(name)
    volume = read_volume(path)
    assert volume.geometry.size == (640, 480, 1) and volume.geometry.spacing == (1.0, 1.0, 1.0)
    assert "taken as 1 mm" in volume.metadata["warning"]
    np.testing.assert_allclose(_frames(volume)[0], _pydicom_pixels(path).astype(np.float32) @ LUMA, atol=1e-4)


def test_lossless_and_lossy_jpeg2000_agree_with_the_uncompressed_file() -> None:
    raw = np.asarray(read_volume(pydicom_data_file("US1_UNCR.dcm")).array, dtype=np.float32)
    lossless = np.asarray(read_volume(pydicom_data_file("US1_J2KR.dcm")).array, dtype=np.float32)
    np.testing.assert_allclose(lossless, raw, atol=1e-4)


def test_palette_obstetric_frames_and_their_region() -> None:
    path = pydicom_data_file("OBXXXX1A_rle_2frame.dcm")
    volume = read_volume(path)
    assert volume.geometry.size == (800, 600, 2)
    assert volume.geometry.spacing[:2] == pytest.approx((0.2622878766196998, 0.2622878766196998))
    import pydicom
    from pydicom.pixels.processing import apply_color_lut

    dataset = pydicom.dcmread(path)
    rgb = apply_color_lut(dataset.pixel_array, dataset).astype(np.float32)
    np.testing.assert_allclose(_frames(volume), rgb @ LUMA, rtol=1e-6, atol=1e-2)


def test_a_folder_and_a_zip_of_one_us_series_read_as_the_file(tmp_path: Path) -> None:
    path = pydicom_data_file("OBXXXX1A_2frame.dcm")
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(path, folder / "IM1")
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(path, "DICOM/IM1")
    expected = read_volume(path)
    for source in (folder, archive):
        volume = read_volume(source)
        assert volume.geometry.same_as(expected.geometry)
        np.testing.assert_array_equal(volume.array, expected.array)


def test_pydicom_ybr_cine_reads_and_a_plane_classifier_gives_one_score_per_frame(tmp_path: Path) -> None:
    need("onnx", "the test classifier is built with onnx.helper")
    from deepinfer.cli import run_cli
    from plane_networks import plane_mean_card

    path = pydicom_file("examples_ybr_color.dcm")  # US, 30 frames, YBR_FULL_422 JPEG baseline
    volume = read_volume(path)
    assert volume.geometry.size == (320, 240, 30)
    folder = tmp_path / "card"
    folder.mkdir()
    card = plane_mean_card(folder, plane="frames")
    out = tmp_path / "scores.json"
    assert run_cli(["run", str(card), "-i", str(path), "-o", str(out), "--progress", "none"]) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    assert [p["index"] for p in document["planes"]] == list(range(30))
    means = _frames(volume).mean(axis=(1, 2))
    assert [p["scores"]["mean"] for p in document["planes"]] == pytest.approx(means.tolist(), rel=1e-4)
    provenance = json.loads((tmp_path / "scores.provenance.json").read_text(encoding="utf-8"))
    frames = provenance["inputs"]["image"]["frames"]
    assert frames["count"] == 30 and frames["third_axis"] == "time" and frames["frame_time_ms"] == 33.333
    assert any("its third axis is time" in warning for warning in provenance["warnings"])


def test_an_image_output_of_a_volume_of_frames_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A segmentation card's labelmap on a grid whose third axis is time would pass for a physical image."""
    from deepinfer.cli import run_cli

    card = Path(__file__).resolve().parents[2] / "registry" / "cards" / "brain-extraction-deepbet.json"
    out = tmp_path / "seg.nii.gz"
    code = run_cli(["run", str(card), "-i", str(pydicom_file(RGB_US)), "-o", str(out), "--progress", "none"])
    assert code == 3 and not out.exists()
    assert "an ultrasound volume of frames (its third axis is time" in capsys.readouterr().err


def test_a_dicom_output_of_a_volume_of_frames_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need("onnx", "the test classifier is built with onnx.helper")
    from deepinfer.cli import run_cli
    from plane_networks import plane_mean_card

    folder = tmp_path / "series"
    folder.mkdir()
    shutil.copy(pydicom_file("examples_ybr_color.dcm"), folder / "cine.dcm")
    card = plane_mean_card(tmp_path, plane="frames")
    out = tmp_path / "scores.dcm"
    assert run_cli(["run", str(card), "-i", str(folder), "-o", str(out), "--progress", "none"]) == 3
    assert "an ultrasound volume of frames gets no DICOM output (scores.dcm)" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "scores.json").exists()


def test_single_frame_files_of_one_us_series_stack_in_instance_order(tmp_path: Path) -> None:
    import pydicom

    folder = tmp_path / "sweep"
    folder.mkdir()
    for instance, name in ((3, "a.dcm"), (1, "b.dcm"), (2, "c.dcm")):
        dataset = pydicom.dcmread(pydicom_file(RGB_US))
        pixels = dataset.pixel_array.copy()
        pixels[..., :] = pixels[..., :] // instance  # a different picture per instance
        dataset.PixelData = pixels.tobytes()
        dataset.InstanceNumber = instance
        dataset.save_as(folder / name)
    volume = read_volume(folder)
    assert volume.geometry.size == (320, 240, 3)
    original = _pydicom_pixels(pydicom_file(RGB_US))
    for k, instance in enumerate((1, 2, 3)):
        expected = (original // instance).astype(np.float32) @ LUMA
        np.testing.assert_allclose(_frames(volume)[k], expected, atol=1e-4)


def test_a_us_series_mixing_cine_and_single_frames_is_refused(tmp_path: Path) -> None:
    import pydicom

    folder = tmp_path / "mixed"
    folder.mkdir()
    cine = pydicom.dcmread(pydicom_file("examples_ybr_color.dcm"))
    single = pydicom.dcmread(pydicom_file(RGB_US))
    single.SeriesInstanceUID = cine.SeriesInstanceUID
    cine.save_as(folder / "cine.dcm")
    single.save_as(folder / "single.dcm")
    with pytest.raises(InputError, match="an ultrasound series of 2 files holds a multi-frame file"):
        read_volume(folder)


def test_several_regions_use_the_largest_b_mode_region_and_say_so(tmp_path: Path) -> None:
    small, large = region(0.05, 0.05, box=(0, 0, 50, 50)), region(0.02, 0.03, box=(60, 0, 319, 239))
    volume = read_volume(edited_us(with_regions(small, large))(tmp_path))
    assert volume.geometry.spacing[:2] == pytest.approx((0.2, 0.3))
    assert "largest 2D tissue (B-mode) region" in volume.metadata["warning"]


def test_a_missing_decoder_is_one_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pydicom.pixels

    class Unavailable:
        is_available = False

    monkeypatch.setattr(pydicom.pixels, "get_decoder", lambda syntax: Unavailable())
    with pytest.raises(InputError, match=r"no decoder for it is installed: pip install 'deepinfer\[ultrasound\]'"):
        read_volume(pydicom_file("examples_ybr_color.dcm"))


def test_a_single_dicom_file_of_another_modality_is_refused() -> None:
    with pytest.raises(InputError, match=r"read only for ultrasound \(this one is CT\); give the folder or zip"):
        read_volume(pydicom_file("CT_small.dcm"))
