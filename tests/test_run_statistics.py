"""Per-label statistics: exact values on a small labelmap with known answers, the files beside the output, and a
real run of brain extraction on Colin27 read from a DICOM folder holding a second series (``--series`` picks)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from deepinfer.card import Label
from deepinfer.imaging import Geometry, Volume
from deepinfer.run import StagedOutputs, label_statistics, stage_statistics, statistics_paths
from dicom_series import UID_ROOT, sagittal, write_series
from realparts import need
from test_run import deepinfer

LPS_FLIP_XY = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)
GEOMETRY = Geometry((10.0, 20.0, 30.0), (0.5, 2.0, 1.5), LPS_FLIP_XY, (6, 5, 4))
LABELS = [Label(value=0, name="background", color="#000000"), Label(value=1, name="lesion", color="#ff0000"),
          Label(value=2, name="corner", color="#00ff00"), Label(value=3, name="absent", color="#0000ff")]  # fmt: skip


def _known() -> tuple[Volume, Volume]:
    """Label 1: the box i 1–2, j 1–3, k 1–2 (12 voxels); label 2: voxel (0, 0, 0); value 7 (not in the table):
    voxel (5, 4, 3). Intensity i + 10 j + 100 k."""
    labels = np.zeros(GEOMETRY.size, np.uint8)
    labels[1:3, 1:4, 1:3] = 1
    labels[0, 0, 0] = 2
    labels[5, 4, 3] = 7
    i, j, k = np.indices(GEOMETRY.size)
    return Volume(labels, GEOMETRY), Volume((i + 10 * j + 100 * k).astype(np.int16), GEOMETRY)


def test_known_labelmap_gives_exact_statistics() -> None:
    labelmap, intensity = _known()
    rows = {row["value"]: row for row in label_statistics(labelmap, intensity, LABELS)}
    assert list(rows) == [1, 2, 3, 7]  # the table's order without the background, then unlisted values
    lesion = rows[1]
    assert lesion["name"] == "lesion" and lesion["voxels"] == 12
    assert lesion["volume_ml"] == pytest.approx(12 * 1.5 / 1000, abs=1e-15)  # 0.5 × 2 × 1.5 mm³ a voxel
    assert lesion["mean"] == pytest.approx(1.5 + 20 + 150)
    assert lesion["sd"] == pytest.approx(math.sqrt(0.25 + 100 * 2 / 3 + 10000 * 0.25))  # independent axes
    assert (lesion["min"], lesion["max"]) == (111.0, 232.0)
    assert lesion["bbox_index"] == {"min": [1, 1, 1], "max": [2, 3, 2]}
    # x = 10 − 0.5 i, y = 20 − 2 j, z = 30 + 1.5 k (LPS, directions flip x and y)
    assert lesion["bbox_lps_mm"] == {"min": [9.0, 14.0, 31.5], "max": [9.5, 18.0, 33.0]}
    assert lesion["touches_border"] is False
    corner = rows[2]
    assert (corner["voxels"], corner["mean"], corner["sd"], corner["touches_border"]) == (1, 0.0, 0.0, True)
    assert rows[7]["name"] == "label 7" and rows[7]["touches_border"] is True and rows[7]["max"] == 345.0
    absent = rows[3]
    assert absent["voxels"] == 0 and absent["volume_ml"] == 0.0
    assert absent["mean"] is None and absent["bbox_index"] is None and absent["touches_border"] is False


def test_bounding_boxes_by_label_passes_equal_scipys_find_objects() -> None:
    from deepinfer.run._statistics import label_boxes

    rng = np.random.default_rng(7)
    array = np.zeros((30, 20, 10), np.int16)
    for value in range(1, 21):  # 20 labels: some overlap, one is overwritten away entirely
        i, j, k = rng.integers(0, (25, 15, 8))
        array[i : i + rng.integers(1, 6), j : j + rng.integers(1, 6), k : k + 2] = value
    array[array == 13] = 0
    values = list(range(1, 23))
    by_label = label_boxes(array, values)  # 22 values > 16: scipy's one pass
    assert by_label == label_boxes(array, values, few=len(values))  # one pass per label
    assert by_label[13] is None and by_label[22] is None and by_label[20] is not None


def test_an_intensity_on_another_grid_gives_no_intensity_statistics() -> None:
    labelmap, intensity = _known()
    moved = Volume(intensity.array, Geometry((0.0, 0.0, 0.0), GEOMETRY.spacing, LPS_FLIP_XY, GEOMETRY.size))
    (lesion,) = [row for row in label_statistics(labelmap, moved, LABELS) if row["value"] == 1]
    assert lesion["voxels"] == 12 and lesion["mean"] is None and lesion["bbox_index"] is not None


def test_statistics_files_are_staged_beside_the_output(tmp_path: Path) -> None:
    labelmap, intensity = _known()
    rows = label_statistics(labelmap, intensity, LABELS)
    output = tmp_path / "seg.nii.gz"
    with StagedOutputs() as staged:
        stage_statistics(staged, "Mask", output, "T1", rows)
        assert not any(tmp_path.glob("seg.*"))  # nothing in place before the commit
        staged.commit()
    as_json, as_csv = statistics_paths(output)
    assert (as_json.name, as_csv.name) == ("seg.statistics.json", "seg.statistics.csv")
    document = json.loads(as_json.read_text())
    assert document["output"] == {"name": "Mask", "file": "seg.nii.gz"} and document["intensity_input"] == "T1"
    assert document["labels"] == rows
    table = list(csv.DictReader(as_csv.open()))
    assert [row["value"] for row in table] == ["1", "2", "3", "7"]
    assert table[0]["voxels"] == "12" and float(table[0]["volume_ml"]) == pytest.approx(0.018)
    assert (table[0]["i_max"], table[0]["y_min_mm"], table[0]["touches_border"]) == ("2", "14.0", "false")
    assert table[2]["mean"] == "" and table[2]["i_min"] == ""  # an absent label: empty cells


# --- the real run ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def colin27_dicom(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Colin27 as an axial DICOM series, and a 6-slice sagittal series beside it, in one folder."""
    folder = tmp_path_factory.mktemp("dicom") / "study"
    image = sitk.Cast(sitk.ReadImage(str(colin27)), sitk.sitkInt16)
    write_series(image, folder, f"{UID_ROOT}.10", description="T1 3D", prefix="T1_")
    localizer = sagittal(image)[:, :, 88:94]
    write_series(localizer, folder, f"{UID_ROOT}.11", description="localizer", prefix="LOC_")
    return folder


def test_brain_extraction_on_a_dicom_folder_writes_statistics(
    colin27_dicom: Path, colin27: Path, shared_home: Path, tmp_path: Path
) -> None:
    need("torch", "the deepbet card runs on torch (deepinfer[torch])")
    target = tmp_path / "brain.nii.gz"
    refused = deepinfer("run", "brain-extraction-deepbet", "-i", str(colin27_dicom), "-o", str(target),
                        home=shared_home)  # fmt: skip
    assert refused.returncode == 3, refused.stderr
    assert f"{UID_ROOT}.10  'T1 3D'  MR  181 slice(s)" in refused.stderr
    assert f"{UID_ROOT}.11  'localizer'  MR  6 slice(s)" in refused.stderr
    assert "--series UID" in refused.stderr and not any(tmp_path.iterdir())

    result = deepinfer("run", "brain-extraction-deepbet", "-i", str(colin27_dicom), "-o", str(target),
                       "--series", f"{UID_ROOT}.10", home=shared_home)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "brain.nii.gz", "brain.provenance.json", "brain.statistics.csv", "brain.statistics.json"
    ]  # fmt: skip
    mask = sitk.ReadImage(str(target))
    voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
    (row,) = json.loads((tmp_path / "brain.statistics.json").read_text())["labels"]
    assert row["voxels"] == voxels > 1_000_000
    assert row["volume_ml"] == pytest.approx(voxels * float(np.prod(mask.GetSpacing())) / 1000, rel=1e-12)
    assert 1000 < row["volume_ml"] < 2500
    brain = sitk.GetArrayViewFromImage(mask) > 0
    faces = [brain[0], brain[-1], brain[:, 0], brain[:, -1], brain[:, :, 0], brain[:, :, -1]]
    assert row["touches_border"] is any(face.any() for face in faces)  # MNI space cuts the brainstem
    head = sitk.GetArrayViewFromImage(sitk.ReadImage(str(colin27)))
    inside = head[brain].astype(np.float64)
    assert row["mean"] == pytest.approx(inside.mean()) and row["max"] == inside.max()
    record = json.loads((tmp_path / "brain.provenance.json").read_text())
    assert record["statistics"]["BrainMask"] == [row]
    assert record["inputs"]["T1"]["dicom_series"]["series_uid"] == f"{UID_ROOT}.10"
    assert "per-label statistics" in result.stderr and "BrainMask" in result.stderr
