"""A DICOM Structured Report (TID 1500 Measurement Report, Comprehensive 3D SR) of a classifier's class scores on a
DICOM series.

The report belongs to the source study and lists the source images as its evidence. Its content, all made by the
algorithm identified as the model (id and name, version; observer device deepinfer):

- one measurement group (TID 1501) per class, tracked by the class name, whose finding type is the class's code
  (:func:`class_code`). It holds two measurements with UCUM unit ``1`` (a dimensionless number):
  the volume-level score (derivation: the rule, SNOMED CT Maximum, Mean, or Mode for ``majority``) and the score
  of the class's best plane (derivation Maximum), which references that plane: a 3D point at the plane's centre
  in the series' Frame of Reference, and, when the plane is one slice of the series (the planes run along the
  series' own slice axis), that slice's source image. A plane across the slices (a coronal plane of an axial
  series) is no one image, so it has the point only.
- one group, first, tracked as ``volume-level decision``: its Finding (the TID 1501 finding type) is the chosen
  class's code, its Measurement Method the rule, and it holds the chosen class's volume-level score.

The measurement's name says what the score is: Probability (DCM 122157) when the network's scores went through a
softmax or sigmoid and the rule is ``max`` or ``mean``; otherwise a code of deepinfer's private scheme
``99DEEPINFER``: ``SCORE`` (class score: the network's own values, not probabilities) or ``PLANESHARE`` (share of
planes with the class's top score, the ``majority`` rule's volume-level value). Classes are not coded in cards, so
each class is ``99DEEPINFER`` ``CLASSk`` (its 0-based index in the card's classes) with the class name as its
meaning. The report says it is for research use only (its Series Description).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from deepinfer._exceptions import InputError
from deepinfer.imaging._dicom_seg import DicomAlgorithm, DicomSource, _check_uids, require_highdicom
from deepinfer.imaging._dicom_sr import algorithm_identification, device_report

_LO: Final = 64
PRIVATE_SCHEME: Final = "99DEEPINFER"
_RULES: Final = {
    "max": ("56851009", "Maximum"),
    "mean": ("373098007", "Mean"),
    "majority": ("373100007", "Mode"),
}


@dataclass(frozen=True)
class BestPlane:
    """A class's best plane: its index along the volume's storage ``axis`` (2: one slice of the series), the LPS
    point (mm) of its centre and the class's score there."""

    axis: int
    index: int
    centre_mm: tuple[float, float, float]
    score: float


@dataclass(frozen=True)
class ClassScoresSummary:
    """What the report says: the classes, the rule and activation, one volume-level score per class, the index of
    the chosen class and each class's best plane."""

    classes: tuple[str, ...]
    rule: str
    activation: str
    volume: tuple[float, ...]
    decision: int
    best: tuple[BestPlane, ...]


def _code(hd: Any, value: str, scheme: str, meaning: str) -> Any:
    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning[:_LO])


def class_code(hd: Any, classes: Sequence[str], index: int) -> Any:
    """Class ``index`` as a coded concept of deepinfer's private scheme: ``CLASSk``, meaning the class name."""
    return _code(hd, f"CLASS{index}", PRIVATE_SCHEME, classes[index])


def _score_name(hd: Any, summary: ClassScoresSummary, volume_level: bool) -> Any:
    if volume_level and summary.rule == "majority":
        return _code(hd, "PLANESHARE", PRIVATE_SCHEME, "Share of planes with the top score")
    if summary.activation in ("softmax", "sigmoid"):
        return _code(hd, "122157", "DCM", "Probability")
    return _code(hd, "SCORE", PRIVATE_SCHEME, "Class score")


def _best_plane(hd: Any, summary: ClassScoresSummary, k: int, source: DicomSource, algorithm: Any) -> Any:
    best = summary.best[k]
    images = []
    if best.axis == 2 and 0 <= best.index < len(source.headers):
        header = source.headers[best.index]
        images = [hd.sr.SourceImageForMeasurement(str(header.SOPClassUID), str(header.SOPInstanceUID))]
    point = hd.sr.CoordinatesForMeasurement3D(
        graphic_type=hd.sr.GraphicTypeValues3D.POINT,
        graphic_data=np.asarray([best.centre_mm], dtype=np.float64),
        frame_of_reference_uid=str(source.headers[0].FrameOfReferenceUID),
    )
    return hd.sr.Measurement(
        name=_score_name(hd, summary, volume_level=False),
        value=float(best.score),
        unit=_code(hd, "1", "UCUM", "no units"),
        derivation=_code(hd, _RULES["max"][0], "SCT", _RULES["max"][1]),
        algorithm_id=algorithm,
        referenced_images=images or None,
        referenced_coordinates=[point],
    )


def _volume_score(hd: Any, summary: ClassScoresSummary, k: int, algorithm: Any) -> Any:
    value, meaning = _RULES[summary.rule]
    return hd.sr.Measurement(
        name=_score_name(hd, summary, volume_level=True),
        value=float(summary.volume[k]),
        unit=_code(hd, "1", "UCUM", "no units"),
        derivation=_code(hd, value, "SCT", meaning),
        algorithm_id=algorithm,
    )


def _class_group(hd: Any, summary: ClassScoresSummary, k: int, source: DicomSource, algorithm: Any) -> Any:
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=summary.classes[k][:_LO]),
        finding_type=class_code(hd, summary.classes, k),
        algorithm_id=algorithm,
        measurements=[_volume_score(hd, summary, k, algorithm), _best_plane(hd, summary, k, source, algorithm)],
    )


def _decision_group(hd: Any, summary: ClassScoresSummary, algorithm: Any) -> Any:
    """The chosen class as the group's Finding, the rule as its method, and the chosen class's volume-level score."""
    value, meaning = _RULES[summary.rule]
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="volume-level decision"),
        finding_type=class_code(hd, summary.classes, summary.decision),
        method=_code(hd, value, "SCT", meaning),
        algorithm_id=algorithm,
        measurements=[_volume_score(hd, summary, summary.decision, algorithm)],
    )


def class_scores_report(
    summary: ClassScoresSummary, source: DicomSource, algorithm: DicomAlgorithm, software: str
) -> Any:
    """A TID 1500 report of ``summary`` (computed on the series ``source``) as a highdicom dataset."""
    hd = require_highdicom()
    where = f"{source.path}: DICOM series {source.series_uid}"
    if not str(source.headers[0].get("FrameOfReferenceUID", "")).strip():
        raise InputError(f"{where} has no Frame of Reference UID; a DICOM SR cannot place its best planes")
    _check_uids(where, source)
    try:
        sr = _report(hd, summary, source, algorithm, software)
    except (ValueError, TypeError, AttributeError, KeyError) as error:  # what highdicom raises on odd headers
        raise InputError(f"{where}: no DICOM SR can be made of it ({error})") from None
    sr.SeriesDescription = f"{algorithm.name} class scores (research use only)"[:_LO]
    sr.CodingSchemeIdentificationSequence = [_private_scheme()]
    return sr


def _private_scheme() -> Any:
    """The SOP Common module's identification of the private coding scheme (required when one is used)."""
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodingSchemeDesignator = PRIVATE_SCHEME
    item.CodingSchemeName = "deepinfer class scores"
    item.CodingSchemeResponsibleOrganization = "deepinfer"
    return item


def _report(hd: Any, summary: ClassScoresSummary, source: DicomSource, algorithm: DicomAlgorithm, software: str) -> Any:
    identification = algorithm_identification(hd, algorithm)
    groups = [_decision_group(hd, summary, identification)]
    groups += [_class_group(hd, summary, k, source, identification) for k in range(len(summary.classes))]
    return device_report(hd, groups, list(source.headers), source, algorithm, software, 1002)
