"""``deepinfer run CLASSIFIER -i DICOM_SERIES -o scores.dcm``: a DICOM SR (TID 1500) of the class scores in the
source study, with the JSON and CSV of the same run beside it. Read back by highdicom and by dcmqi's tid1500reader
(and checked by dciodvfy) it holds the JSON's decision, volume-level scores and best planes; an axial plane of an
axial series references its source image, a plane across the slices its centre point only. A non-DICOM input, or a
series with a path-like UID, is refused with nothing written; without highdicom the error says how to install it.

Real parts: Colin27 (Debian mricron-data) written as a DICOM series; a real ONNX plane classifier run by ONNX
Runtime; highdicom, dcmqi and dicom3tools.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deepinfer.cli import run_cli
from deepinfer.imaging import read_dicom_source
from dicom_readback import dciodvfy_errors, dcmqi_measurements
from dicom_series import UID_ROOT, colin27_block, edit_header, sagittal, write_series
from plane_networks import plane_mean_card
from realparts import need

SERIES_UID = f"{UID_ROOT}.70"


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("onnx", "the test classifier is built with onnx.helper")
    return plane_mean_card(tmp_path_factory.mktemp("card"), rule="mean")


@pytest.fixture(scope="module")
def series(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dicom") / "axial"
    write_series(colin27_block((36, 40, 12)), folder, SERIES_UID)
    return folder


def run(*argv: str) -> int:
    return run_cli(["run", *argv, "--progress", "none"])


def _measurement_groups(report: Any) -> dict[str, Any]:
    """The report's measurement groups (TID 1501) by their tracking identifier's text."""
    hd = need("highdicom", "DICOM SR output needs highdicom (deepinfer[dicom])")
    container = report.ContentSequence[-1]  # Imaging Measurements
    assert container.ConceptNameCodeSequence[0].CodeValue == "126010"
    groups = {}
    for item in container.ContentSequence:
        group = hd.sr.MeasurementsAndQualitativeEvaluations.from_sequence([item])
        groups[group.tracking_identifier] = group
    return groups


def test_scores_sr_holds_the_decision_scores_and_best_planes_of_the_json(
    card: Path, series: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hd = need("highdicom", "DICOM SR output needs highdicom (deepinfer[dicom])")
    out = tmp_path / "scores.dcm"
    assert run(str(card), "-i", str(series), "-o", str(out)) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"scores JSON, CSV → {tmp_path / 'scores.json'}" in err
    assert {p.name for p in tmp_path.iterdir()} == {"scores.dcm", "scores.json", "scores.csv", "scores.provenance.json"}
    document = json.loads((tmp_path / "scores.json").read_text(encoding="utf-8"))
    record = json.loads((tmp_path / "scores.provenance.json").read_text(encoding="utf-8"))
    assert record["output"] == {"name": "scores", "file": "scores.dcm", "json": "scores.json"}
    assert dciodvfy_errors(out) == []

    report = hd.sr.srread(out)
    source = read_dicom_source(series, SERIES_UID)
    assert report.StudyInstanceUID == source.headers[0].StudyInstanceUID
    assert report.SeriesInstanceUID != SERIES_UID and "research use only" in report.SeriesDescription
    groups = _measurement_groups(report)
    decision = groups["volume-level decision"]
    assert decision.finding_type.meaning == document["decision"]["class"] == "mean"
    assert decision.method.meaning == "Mean"  # the card's rule
    (chosen,) = decision.get_measurements()
    assert chosen.value == pytest.approx(document["decision"]["scores"]["mean"], abs=1e-5)
    uids = [str(h.SOPInstanceUID) for h in source.headers]
    for name in document["classes"]:
        group = groups[name]
        assert group.finding_type.meaning == name
        volume, best = group.get_measurements()
        assert volume.unit.value == "1" and volume.derivation.meaning == "Mean"
        assert volume.value == pytest.approx(document["decision"]["scores"][name], abs=1e-5)
        plane = document["best_planes"][name]
        assert best.value == pytest.approx(plane["score"], abs=1e-5)
        (image,) = best.referenced_images
        assert image.referenced_sop_instance_uid == uids[plane["index"]]
        assert algorithm_name(group) == "plane-mean (Plane mean (test classifier))"
    read = {group["TrackingIdentifier"]: group for group in dcmqi_measurements(out, tmp_path / "dcmqi")}
    assert read["volume-level decision"]["Finding"]["CodeMeaning"] == "mean"
    for name in document["classes"]:
        volume, best = (float(item["value"]) for item in read[name]["measurementItems"])
        assert volume == pytest.approx(document["decision"]["scores"][name], abs=1e-5)
        assert best == pytest.approx(document["best_planes"][name]["score"], abs=1e-5)


def algorithm_name(group: Any) -> str:
    """The Algorithm Name (DCM 111001) of a measurement group."""
    for item in group[0].ContentSequence:
        if item.ConceptNameCodeSequence[0].CodeValue == "111001":  # Algorithm Name
            return str(item.TextValue)
    raise AssertionError("no algorithm identification")


def test_a_dcm_scores_output_of_a_file_input_is_refused_before_reading(
    card: Path, colin27: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(str(card), "-i", str(colin27), "-o", str(tmp_path / "scores.dcm")) == 2
    message = " ".join(capsys.readouterr().err.split())
    assert f"{tmp_path / 'scores.dcm'}: a DICOM SR of class scores needs the source DICOM images" in message
    assert "write the result as .json" in message and "Traceback" not in message
    assert not any(tmp_path.iterdir())


def test_a_coronal_best_plane_of_a_sagittal_series_has_its_point_and_no_image(
    colin27: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hd = need("highdicom", "DICOM SR output needs highdicom (deepinfer[dicom])")
    need("onnx", "the test classifier is built with onnx.helper")
    card = plane_mean_card(tmp_path, plane="coronal")
    write_series(sagittal(colin27_block((20, 24, 10))), tmp_path / "sagittal", f"{UID_ROOT}.71")
    out = tmp_path / "out"
    out.mkdir()
    assert run(str(card), "-i", str(tmp_path / "sagittal"), "-o", str(out / "s.dcm")) == 0, capsys.readouterr().err
    document = json.loads((out / "s.json").read_text(encoding="utf-8"))
    groups = _measurement_groups(hd.sr.srread(out / "s.dcm"))
    _, best = groups["mean"].get_measurements()
    assert best.referenced_images is None or len(best.referenced_images) == 0
    (point,) = best.referenced_coordinates
    centre = document["best_planes"]["mean"]["position_mm"]
    assert np.asarray(point.value, dtype=float).ravel() == pytest.approx(centre, abs=1e-3)
    assert dciodvfy_errors(out / "s.dcm") == []


def test_a_series_with_a_path_like_study_uid_exits_3_and_writes_nothing(
    card: Path, colin27: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need("highdicom", "DICOM SR output needs highdicom (deepinfer[dicom])")
    files = write_series(colin27_block((16, 16, 5)), tmp_path / "series", f"{UID_ROOT}.72")
    for path in files:
        edit_header(path, lambda dataset: setattr(dataset, "StudyInstanceUID", "../../etc"))
    out = tmp_path / "out"
    out.mkdir()
    assert run(str(card), "-i", str(tmp_path / "series"), "-o", str(out / "scores.dcm")) == 3
    message = " ".join(capsys.readouterr().err.split())
    assert "its StudyInstanceUID '../../etc' is not a valid DICOM UID" in message
    assert "Traceback" not in message and not any(out.iterdir())


def test_without_highdicom_a_dcm_scores_output_says_how_to_install_it(card: Path, series: Path, tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "sys.modules['highdicom'] = None  # as on a plain install: importing it fails\n"
        "from deepinfer.cli import run_cli\n"
        f"sys.exit(run_cli(['run', {str(card)!r}, '-i', {str(series)!r}, '-o', {str(tmp_path / 's.dcm')!r},"
        " '--progress', 'none']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, encoding="utf-8", check=False)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: DICOM SEG and SR output needs highdicom: pip install 'deepinfer[dicom]'"
    ]
    assert not any(tmp_path.iterdir())
