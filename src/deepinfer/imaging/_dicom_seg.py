"""DICOM Segmentation (SEG) objects of a labelmap computed on a DICOM series, written with highdicom.

A SEG belongs to its source: the same patient, study (Study Instance UID) and Frame of Reference, and it references
the source series and, frame by frame, the source instance each frame lies on. That needs the source slices' headers
in the order of the volume's slices (:func:`read_dicom_source`, which reads them again, headers only, choosing the
series by its UID) and a labelmap on exactly the grid those slices make: the volume's slice ``k`` is the source's
``k``-th slice along the slice normal, its rows the DICOM rows (index ``j``) and its columns the DICOM columns
(index ``i``). :func:`check_source_grid` refuses a labelmap on any other grid rather than resample it.

Each label of the card's table becomes one segment (numbered 1, 2, … in the table's order; a value the labelmap
holds but the table lacks becomes a segment named ``label N`` after them). A label's ``code`` is the segmented
property type (its meaning: the label's name) and its ``category`` the property category (default Anatomical
structure). A label without a code gets the generic :data:`GENERIC_CODE` (SNOMED CT 85756007 Tissue, category and
type, as Slicer's generic segments do) and a warning. Every segment carries the algorithm identification (the
model's id and name, its version, the family Artificial Intelligence); the object says it is for research use only
(Content Description and Series Description). Frames with no voxel of a segment are left out (a BINARY SEG,
bit-packed), as readers expect.
"""

from __future__ import annotations

import copy
import importlib
import io
import re
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from deepinfer._exceptions import FetchError, InputError, RuntimeUnavailableError
from deepinfer.card import SEGMENT_CATEGORIES, Label
from deepinfer.imaging._series import choose_series, scan_series
from deepinfer.imaging._slices import ordered_slices, tolerance
from deepinfer.imaging._volume import Volume
from deepinfer.store import extract_archive

RESEARCH_USE: Final = "For research use only. Not for clinical diagnosis."
GENERIC_CODE: Final = ("SCT", "85756007", "Tissue")
"""The category and type of a segment whose label has no code (Slicer's generic segment is the same)."""
DEFAULT_CATEGORY: Final = "SCT:91723000"  # Anatomical structure
INSTALL_HINT: Final = "DICOM SEG and SR output needs highdicom: pip install 'deepinfer[dicom]'"
_LO: Final = 64  # the longest a DICOM LO (long string) value may be
_ORIENTATION_TOLERANCE: Final = 1e-4
_MAX_LABEL: Final = 65535  # as a card's label table
_UID: Final = re.compile(r"(?=.{1,64}$)(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


def require_highdicom() -> Any:
    """The highdicom module, or a one-line :class:`RuntimeUnavailableError` saying how to install it."""
    try:
        return importlib.import_module("highdicom")
    except ImportError:
        raise RuntimeUnavailableError(INSTALL_HINT) from None


@dataclass(frozen=True)
class DicomSource:
    """The headers (pydicom datasets, no pixel data) of the slices a DICOM input was read from, in the volume's slice
    order: ``headers[k]`` is slice ``k``."""

    path: Path
    series_uid: str
    headers: tuple[Any, ...]


@dataclass(frozen=True)
class DicomAlgorithm:
    """Which model made an object: its id, display name and version (the SEG's and SR's algorithm identification)."""

    model_id: str
    name: str
    version: str


def read_dicom_source(path: Path, series_uid: str) -> DicomSource:
    """The headers of series ``series_uid`` of a DICOM folder or zip, ordered as the volume read from it."""
    if path.is_dir():
        return _source_below(path, path, series_uid)
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: not a DICOM folder or zip (a DICOM SEG needs the source DICOM images)")
    with tempfile.TemporaryDirectory(prefix="deepinfer-dicom-") as scratch:
        folder = Path(scratch) / "series"
        try:
            extract_archive(path, folder)
        except FetchError as error:
            raise InputError(f"{path}: refused: {str(error).removeprefix(path.name + ': ')}") from None
        return _source_below(folder, path, series_uid)


def _source_below(folder: Path, source: Path, series_uid: str) -> DicomSource:
    series = choose_series(source, scan_series(folder, source), None, series_uid)
    header_of = dict(zip(series.files, series.headers, strict=True))
    ordered = ordered_slices(source, folder, series)
    return DicomSource(source, series.uid, tuple(header_of[path] for path in ordered))


def _floats(value: Any) -> npt.NDArray[np.float64]:
    return np.asarray([float(v) for v in value], dtype=np.float64)


def check_source_grid(labelmap: Volume, source: DicomSource) -> None:
    """Refuse a labelmap that is not on the grid of the source slices, slice ``k`` on ``headers[k]``."""
    where = f"{source.path}: DICOM series {source.series_uid}"
    if not str(source.headers[0].get("FrameOfReferenceUID", "")).strip():
        raise InputError(f"{where} has no Frame of Reference UID; a DICOM SEG cannot be placed in its space")
    _check_uids(where, source)
    columns, rows, depth = labelmap.geometry.size
    first = source.headers[0]
    if (depth, rows, columns) != (len(source.headers), int(first.Rows), int(first.Columns)):
        raise InputError(
            f"{where}: the result's size {columns}×{rows}×{depth} is not the series' {int(first.Columns)}×"
            f"{int(first.Rows)}×{len(source.headers)}; a DICOM SEG must lie on the source slices"
        )
    axes = labelmap.geometry.direction_matrix
    orientation = _floats(first.ImageOrientationPatient)
    if np.max(np.abs(orientation - np.concatenate([axes[:, 0], axes[:, 1]]))) > _ORIENTATION_TOLERANCE:
        raise InputError(f"{where}: the result's orientation is not the series'; a DICOM SEG must lie on its slices")
    allowed = tolerance(float(min(labelmap.geometry.spacing)))
    for k, header in enumerate(source.headers):
        expected = (labelmap.geometry.index_to_physical @ np.array([0.0, 0.0, float(k), 1.0]))[:3]
        if np.max(np.abs(_floats(header.ImagePositionPatient) - expected)) > allowed:
            raise InputError(f"{where}: the result's slice {k} is not on the source slice {header.SOPInstanceUID}")


def _check_uids(where: str, source: DicomSource) -> None:
    """The UIDs a SEG and SR copy or cite must be UIDs (digits and dots, at most 64 characters), not paths or text."""
    for header in source.headers:
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID"):
            value = str(header.get(keyword, ""))
            if not _UID.fullmatch(value):
                shown = value if len(value) <= _LO else value[:_LO] + "…"
                raise InputError(f"{where}: its {keyword} {shown!r} is not a valid DICOM UID; no DICOM SEG is written")


def _concept(hd: Any, code: str, meaning: str) -> Any:
    scheme, _, value = code.partition(":")
    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning[:_LO])


def segment_labels(labelmap: Volume, labels: Sequence[Label]) -> tuple[list[Label], list[str]]:
    """The segments' labels in segment order (the table's nonzero labels, then values it lacks), and warnings."""
    table = [label for label in labels if label.value > 0]
    known = {label.value for label in table}
    present = [int(v) for v in np.unique(np.asarray(labelmap.array)) if v > 0]
    if present and present[-1] > _MAX_LABEL:
        raise InputError(f"the result holds the value {present[-1]}; a DICOM SEG takes label values up to {_MAX_LABEL}")
    extra = [Label(value=v, name=f"label {v}", color="#808080") for v in present if v not in known]
    warnings = []
    uncoded = [label.name for label in [*table, *extra] if label.code is None]
    if uncoded:
        warnings.append(
            f"DICOM SEG: no code for {', '.join(uncoded)} in the card's label table; written with the generic "
            f"code {GENERIC_CODE[0]}:{GENERIC_CODE[1]} ({GENERIC_CODE[2]})"
        )
    if extra:
        values = ", ".join(str(label.value) for label in extra)
        warnings.append(f"DICOM SEG: the result holds value(s) {values}, which the card's label table lacks")
    return [*table, *extra], warnings


def _description(hd: Any, number: int, label: Label, algorithm: DicomAlgorithm) -> Any:
    if label.code is None:
        scheme, value, meaning = GENERIC_CODE
        category = kind = hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)
    else:
        chosen = label.category or DEFAULT_CATEGORY
        category = _concept(hd, chosen, SEGMENT_CATEGORIES[chosen])
        kind = _concept(hd, label.code, label.name)
    red, green, blue = (int(label.color[i : i + 2], 16) for i in (1, 3, 5))
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label.name[:_LO],
        segmented_property_category=category,
        segmented_property_type=kind,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm_identification(hd, algorithm),
        tracking_uid=hd.UID(),
        tracking_id=f"{algorithm.model_id} {label.name}"[:_LO],
        display_color=hd.color.CIELabColor.from_rgb(red, green, blue),
    )


def algorithm_identification(hd: Any, algorithm: DicomAlgorithm) -> Any:
    return hd.AlgorithmIdentificationSequence(
        name=f"{algorithm.model_id} ({algorithm.name})"[:_LO],
        family=hd.sr.CodedConcept(value="123110", scheme_designator="DCM", meaning="Artificial Intelligence"),
        version=algorithm.version[:_LO],
        source="deepinfer",
    )


def _frames(labelmap: Volume, segments: Sequence[Label]) -> npt.NDArray[np.generic]:
    """The labelmap as segment numbers, one frame per slice: ``frames[k]`` is slice ``k`` as rows × columns."""
    array = np.asarray(labelmap.array)
    if array.dtype.kind not in "iu":
        array = np.rint(array).astype(np.int64)
    lookup = np.zeros(max(int(array.max(initial=0)), max(s.value for s in segments)) + 1, dtype=np.uint16)
    for number, label in enumerate(segments, start=1):
        lookup[label.value] = number
    numbers = lookup[np.clip(array, 0, None)]
    dtype = np.uint8 if len(segments) < 256 else np.uint16
    return np.ascontiguousarray(np.transpose(numbers, (2, 1, 0)).astype(dtype))


def segmentation(
    labelmap: Volume, source: DicomSource, segments: Sequence[Label], algorithm: DicomAlgorithm, software: str
) -> Any:
    """A DICOM SEG of ``labelmap`` (on the grid of ``source``) as a highdicom dataset: segment ``n`` is the voxels
    of ``segments[n - 1]`` (see :func:`segment_labels`)."""
    hd = require_highdicom()
    check_source_grid(labelmap, source)
    if not segments:
        raise InputError(f"{source.path}: the card's label table has no label for a DICOM SEG segment")
    frames = _frames(labelmap, segments)
    measures = _pixel_measures(hd, labelmap, source)
    try:
        seg = _segmentation(hd, frames, measures, source, segments, algorithm, software)
    except (ValueError, TypeError, AttributeError, KeyError) as error:  # what highdicom raises on odd headers
        raise InputError(
            f"{source.path}: DICOM series {source.series_uid}: no DICOM SEG can be made of it ({error})"
        ) from None
    seg.SeriesDescription = f"{algorithm.name} (research use only)"[:_LO]
    return seg


def _segmentation(
    hd: Any,
    frames: npt.NDArray[np.generic],
    measures: Any,
    source: DicomSource,
    segments: Sequence[Label],
    algorithm: DicomAlgorithm,
    software: str,
) -> Any:
    return hd.seg.Segmentation(
        source_images=_with_thickness(source.headers, measures[0].SliceThickness),
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_description(hd, n, label, algorithm) for n, label in enumerate(segments, start=1)],
        series_instance_uid=hd.UID(),
        series_number=_series_number(source, 1000),
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="deepinfer",
        manufacturer_model_name=algorithm.model_id[:_LO],
        software_versions=software[:_LO],
        device_serial_number=algorithm.version[:_LO],
        content_description=RESEARCH_USE,
        content_label="DEEPINFER",
        omit_empty_frames=bool(frames.any()),
        pixel_measures=measures,
    )


def _pixel_measures(hd: Any, labelmap: Volume, source: DicomSource) -> Any:
    """Pixel spacing (rows, columns) and slice spacing of the grid; the thickness the source states, else the step."""
    columns, rows, step = labelmap.geometry.spacing
    thickness = source.headers[0].get("SliceThickness")
    try:
        thickness = float(thickness) if thickness not in (None, "") and float(thickness) > 0 else step
    except (TypeError, ValueError):
        thickness = step
    return hd.PixelMeasuresSequence(
        pixel_spacing=(rows, columns), slice_thickness=thickness, spacing_between_slices=step
    )


def _with_thickness(headers: Sequence[Any], thickness: float) -> list[Any]:
    """The headers, a copy with a Slice Thickness where it is missing (highdicom reads it; it is type 2 in MR/CT)."""
    if all(str(header.get("SliceThickness", "")).strip() for header in headers):
        return list(headers)
    copies = [copy.copy(header) for header in headers]
    for header in copies:
        header.SliceThickness = thickness
    return copies


def _series_number(source: DicomSource, offset: int) -> int:
    """The source's series number plus ``offset`` (DICOM IS values stop at 2^31 − 1), or ``offset``."""
    number = source.headers[0].get("SeriesNumber")
    try:
        return min(int(number) + offset, 2**31 - 1) if number not in (None, "") else offset
    except (TypeError, ValueError):
        return offset


def dicom_bytes(dataset: Any) -> bytes:
    """A dataset as a DICOM Part 10 file (preamble, file meta, the dataset in its transfer syntax)."""
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
