"""A classifier run plane by plane, end to end through ``deepinfer run``: scores.json and scores.csv (plane index,
LPS position, every class score), the provenance sidecar, the summary on the terminal, the report's score plot,
one entry per axial plane of a reoriented, resampled Colin27, and bad inputs refused with exit code 3."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from deepinfer.card import load_card
from deepinfer.cli import run_cli
from deepinfer.imaging import Geometry, Volume, read_volume, write_volume
from deepinfer.run import run_model
from plane_networks import plane_mean_card
from realparts import need

ODD_DIRECTION = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])  # i → S, j → L, k → A


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_cli(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def card(tmp_path: Path) -> Path:
    need("onnx", "the test classifier is built with onnx.helper")
    folder = tmp_path / "card"
    folder.mkdir()
    return plane_mean_card(folder, skip_blank=True)


@pytest.fixture
def ramp(tmp_path: Path) -> Path:
    """Voxel value = 10 + the voxel's i index ± 0.5 (a checkerboard), on a grid whose i axis points superior: axial
    plane i has the mean 10 + i."""
    size = (6, 9, 8)
    checkerboard = 0.5 * (-1.0) ** np.add.outer(np.arange(size[1]), np.arange(size[2]))
    array = (10.0 + np.arange(size[0])[:, None, None] + checkerboard[None]).astype(np.float32)
    geometry = Geometry((5.0, -7.0, 30.0), (2.5, 0.9, 1.1), tuple(float(v) for v in ODD_DIRECTION.ravel()), size)
    path = tmp_path / "ramp.nrrd"
    write_volume(Volume(array, geometry), path)
    return path


def test_scores_json_csv_provenance_summary_and_plot(
    capsys: pytest.CaptureFixture[str], card: Path, ramp: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.json"
    code, _, err = cli(capsys, "run", str(card), "-i", str(ramp), "-o", str(out), "--report", "--progress", "none")
    assert code == 0, err
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["classes"] == ["mean", "negative"] and document["plane"] == "axial"
    assert document["input_axis"] == 0
    planes = document["planes"]
    assert [p["index"] for p in planes] == list(range(6))
    assert [p["position_mm"][2] for p in planes] == pytest.approx([30.0 + 2.5 * i for i in range(6)])
    assert [p["scores"]["mean"] for p in planes] == pytest.approx([10.0 + i for i in range(6)], abs=1e-5)
    assert document["decision"] == {"rule": "max", "class": "mean", "scores": {"mean": 15.0, "negative": -10.0}}
    assert document["best_planes"]["mean"]["index"] == 5 and document["best_planes"]["negative"]["index"] == 0
    rows = list(csv.DictReader((tmp_path / "scores.csv").open(encoding="utf-8")))
    assert len(rows) == 6 and float(rows[2]["z_mm"]) == pytest.approx(35.0) and float(rows[2]["mean"]) == 12.0
    provenance = json.loads((tmp_path / "scores.provenance.json").read_text(encoding="utf-8"))
    assert provenance["model"]["id"] == "plane-mean" and provenance["output"]["file"] == "scores.json"
    assert provenance["inputs"]["image"]["file"] == "ramp.nrrd"
    assert "scores: mean (max over 6 axial planes: 15.000)" in err
    assert "plane 5 at (" in err and "30.0" not in err.split("plane 5 at")[1].splitlines()[0]
    from PIL import Image

    with Image.open(tmp_path / "scores.report.png") as picture:
        assert picture.size == (1200, 560)


def test_reoriented_resampled_colin27_gives_one_entry_per_axial_plane(
    card: Path, colin27: Path, tmp_path: Path
) -> None:
    image = sitk.DICOMOrient(sitk.ReadImage(str(colin27)), "ASL")  # i → anterior, j → superior, k → left
    spacing = (1.7, 1.3, 2.2)
    size = [round(n * s / t) for n, s, t in zip(image.GetSize(), image.GetSpacing(), spacing, strict=True)]
    resampled = sitk.Resample(image, size, sitk.Transform(), sitk.sitkLinear, image.GetOrigin(), spacing,
                              image.GetDirection(), 0.0, sitk.sitkFloat32)  # fmt: skip
    path = tmp_path / "colin27_asl.nii.gz"
    sitk.WriteImage(resampled, str(path))
    volume = read_volume(path)
    result = run_model(load_card(card), {"image": path}, {"scores": tmp_path / "scores.json"})
    scores = result.scores["scores"]
    axis = int(np.argmax(np.abs(volume.geometry.direction_matrix[2])))
    array = volume.array
    blank = [k for k in range(array.shape[axis]) if np.ptp(np.take(array, k, axis=axis)) == 0]
    assert len(scores.planes) == volume.geometry.size[axis] - len(blank), "one entry per (non-blank) axial plane"
    assert sorted(scores.planes) == [k for k in range(array.shape[axis]) if k not in blank]
    z = scores.positions[:, 2]
    assert np.all(np.diff(z) > 0)
    step = volume.geometry.index_to_physical[2, axis]
    expected = volume.geometry.origin[2] + step * np.asarray(scores.planes)
    np.testing.assert_allclose(z, expected, atol=1e-4)
    for row in (0, len(scores.planes) // 2, len(scores.planes) - 1):  # each entry is the plane it says it is
        plane = np.take(array, scores.planes[row], axis=axis)
        assert scores.values[row, 0] == pytest.approx(float(plane.mean()), rel=1e-4)


def _write(array: np.ndarray, path: Path, vector: bool = False) -> Path:
    sitk.WriteImage(sitk.GetImageFromArray(array, isVector=vector), str(path))
    return path


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("slice.nrrd", lambda p: _write(np.ones((20, 30), np.float32), p), "is a 2D image"),
        ("series.nii.gz", lambda p: _write(np.ones((3, 4, 5, 6), np.float32), p), "is a 4D image"),
        ("rgb.mha", lambda p: _write(np.ones((4, 5, 6, 3), np.uint8), p, vector=True), "3 components"),
        ("blank.nrrd", lambda p: _write(np.zeros((4, 5, 6), np.float32), p), "all 4 axial planes are blank"),
    ],
)
def test_bad_inputs_are_refused_with_exit_code_3(
    capsys: pytest.CaptureFixture[str], card: Path, tmp_path: Path, name: str, make: object, message: str
) -> None:
    source = make(tmp_path / name)  # type: ignore[operator]
    out = tmp_path / "scores.json"
    code, _, err = cli(capsys, "run", str(card), "-i", str(source), "-o", str(out), "--progress", "none")
    assert code == 3, err
    assert message in " ".join(err.split()) and name in err
    assert not out.exists() and not (tmp_path / "scores.csv").exists()


def test_class_scores_need_a_json_file(capsys: pytest.CaptureFixture[str], card: Path, ramp: Path) -> None:
    code, _, err = cli(capsys, "run", str(card), "-i", str(ramp), "-o", str(ramp.with_name("s.nii.gz")))
    assert code == 2
    assert "written as JSON" in err
