"""The DICOM SR of class scores, built directly: what its measurements are named for each activation and rule
(Probability for softmax/sigmoid scores, deepinfer's class score otherwise, the share of planes for ``majority``),
the rule as derivation and method, the private coding scheme identified, and dciodvfy's verdict.

Real parts: Colin27 (Debian mricron-data) written as a DICOM series by the tests; highdicom; dicom3tools.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deepinfer.imaging import (
    BestPlane,
    ClassScoresSummary,
    DicomAlgorithm,
    DicomSource,
    class_scores_report,
    dicom_bytes,
    read_dicom_source,
)
from dicom_readback import dciodvfy_errors
from dicom_series import UID_ROOT, colin27_block, write_series
from realparts import need

ALGORITHM = DicomAlgorithm("tumour-planes", "Tumour planes", "0.3.0")


@pytest.fixture(scope="module")
def source(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> DicomSource:
    folder = tmp_path_factory.mktemp("dicom") / "axial"
    write_series(colin27_block((16, 16, 6)), folder, f"{UID_ROOT}.80")
    return read_dicom_source(folder, f"{UID_ROOT}.80")


def summary(activation: str, rule: str) -> ClassScoresSummary:
    best = (BestPlane(2, 4, (1.0, 2.0, 3.0), 0.9), BestPlane(2, 0, (1.0, 2.0, -1.0), 0.7))
    return ClassScoresSummary(("tumour", "no tumour"), rule, activation, (0.6, 0.4), 0, best)


def groups(report: Any) -> dict[str, Any]:
    hd = need("highdicom", "DICOM SR output needs highdicom (deepinfer[dicom])")
    items = report.ContentSequence[-1].ContentSequence
    found = [hd.sr.MeasurementsAndQualitativeEvaluations.from_sequence([item]) for item in items]
    return {group.tracking_identifier: group for group in found}


@pytest.mark.parametrize(
    ("activation", "rule", "volume_name", "best_name", "derivation"),
    [
        ("softmax", "max", "Probability", "Probability", "Maximum"),
        ("sigmoid", "mean", "Probability", "Probability", "Mean"),
        ("none", "mean", "Class score", "Class score", "Mean"),
        ("softmax", "majority", "Share of planes with the top score", "Probability", "Mode"),
    ],
)
def test_measurement_names_follow_the_activation_and_rule(
    source: DicomSource, activation: str, rule: str, volume_name: str, best_name: str, derivation: str, tmp_path: Path
) -> None:
    hd = need("highdicom", "DICOM SR output needs highdicom (deepinfer[dicom])")
    path = tmp_path / "scores.dcm"
    path.write_bytes(dicom_bytes(class_scores_report(summary(activation, rule), source, ALGORITHM, "deepinfer 0")))
    report = hd.sr.srread(path)
    found = groups(report)
    assert list(found) == ["volume-level decision", "tumour", "no tumour"]
    decision = found["volume-level decision"]
    assert decision.finding_type.meaning == "tumour" and decision.method.meaning == derivation
    volume, best = found["no tumour"].get_measurements()
    assert (volume.name.meaning, volume.derivation.meaning, volume.value) == (volume_name, derivation, 0.4)
    assert (best.name.meaning, best.derivation.meaning, best.value) == (best_name, "Maximum", 0.7)
    assert best.referenced_images[0].referenced_sop_instance_uid == source.headers[0].SOPInstanceUID
    assert found["tumour"].finding_type.value == "CLASS0" and found["no tumour"].finding_type.value == "CLASS1"
    (scheme,) = report.CodingSchemeIdentificationSequence
    assert scheme.CodingSchemeDesignator == "99DEEPINFER"
    assert report.StudyInstanceUID == source.headers[0].StudyInstanceUID
    assert dciodvfy_errors(path) == []
