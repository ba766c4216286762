"""DICOM SEG and SR of a labelmap on its source series: read back by highdicom and by dcmqi (an independent C++
reader) voxel for voxel on the source grid, validated by dciodvfy (dicom3tools), with the study, frame of
reference, per-frame source references, coded segments and algorithm identification a viewer needs.

Real parts: Colin27 (Debian mricron-data) written as DICOM series by the tests, in axial and sagittal slices with
shuffled file names; highdicom; dcmqi's ``segimage2itkimage`` (PyPI dcmqi); ``dciodvfy`` (Debian dicom3tools).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from deepinfer._exceptions import InputError
from deepinfer.card import Label
from deepinfer.imaging import (
    DicomAlgorithm,
    Geometry,
    Volume,
    dicom_bytes,
    measurement_report,
    read_dicom_source,
    read_volume,
    segment_labels,
    segmentation,
)
from dicom_readback import dciodvfy_errors, dcmqi_labelmap
from dicom_series import UID_ROOT, colin27_block, edit_header, sagittal, write_series
from realparts import need

LABELS = [
    Label(value=0, name="background", color="#000000"),
    Label(value=3, name="brain", color="#f0c05a", code="SCT:12738006"),
    Label(value=7, name="dark", color="#3050ff"),
    Label(value=9, name="lesion", color="#ff0000", code="SCT:52988006", category="SCT:49755003"),
]
ALGORITHM = DicomAlgorithm("tiny-seg", "Tiny segmenter", "1.2.3")


def segment_numbers(labelmap: Volume, segments: list[Label]) -> npt.NDArray[np.int64]:
    numbers = np.zeros(labelmap.geometry.size, dtype=np.int64)
    for number, label in enumerate(segments, start=1):
        numbers[np.asarray(labelmap.array) == label.value] = number
    return numbers


def regions(volume: Volume) -> Volume:
    """A labelmap from the intensities: 3 (brain-bright), 7 (dark) and one voxel of 9 in the first slice."""
    array = np.asarray(volume.array)
    labels = np.where(array > np.percentile(array, 60), 3, np.where(array < np.percentile(array, 20), 7, 0))
    labels[2, 3, 0] = 9
    return volume.with_array(labels.astype(np.uint8))


@pytest.fixture(scope="module", params=["axial", "sagittal"])
def series(request: pytest.FixtureRequest, colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    image = colin27_block((28, 32, 12))
    folder = tmp_path_factory.mktemp("seg-source") / str(request.param)
    write_series(image if request.param == "axial" else sagittal(image), folder, f"{UID_ROOT}.50")
    return folder


def write_objects(folder: Path, series: Path) -> tuple[Volume, Any, list[Label], list[str], Path, Path]:
    hd = need("highdicom", "DICOM SEG output needs highdicom (deepinfer[dicom])")
    volume = read_volume(series)
    labelmap = regions(volume)
    source = read_dicom_source(series, volume.metadata["dicom_series_uid"])
    segments, warnings = segment_labels(labelmap, LABELS)
    seg = segmentation(labelmap, source, segments, ALGORITHM, "deepinfer test")
    rows = {label.value: float(np.count_nonzero(labelmap.array == label.value)) for label in segments}
    report = measurement_report(seg, source, {n: rows[s.value] for n, s in enumerate(segments, 1)}, ALGORITHM, "t")
    seg_path, sr_path = folder / "seg.dcm", folder / "sr.dcm"
    seg_path.write_bytes(dicom_bytes(seg))
    sr_path.write_bytes(dicom_bytes(report))
    assert hd.seg.segread(seg_path).SOPInstanceUID == seg.SOPInstanceUID
    return labelmap, source, segments, warnings, seg_path, sr_path


def test_seg_reads_back_voxel_for_voxel_with_highdicom_and_dcmqi(series: Path, tmp_path: Path) -> None:
    hd = need("highdicom", "DICOM SEG output needs highdicom (deepinfer[dicom])")
    labelmap, source, segments, _, seg_path, sr_path = write_objects(tmp_path, series)
    expected = segment_numbers(labelmap, segments)
    assert [label.value for label in segments] == [3, 7, 9]
    seg = hd.seg.segread(seg_path)
    uids = [str(h.SOPInstanceUID) for h in source.headers]
    frames = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids, combine_segments=True, ignore_spatial_locations=True
    )
    assert np.array_equal(np.transpose(frames, (2, 1, 0)), expected)  # frame k = slice k, rows j, columns i
    assert np.array_equal(dcmqi_labelmap(seg_path, labelmap, tmp_path / "dcmqi"), expected)
    assert dciodvfy_errors(seg_path) == []
    assert dciodvfy_errors(sr_path) == []


def test_seg_belongs_to_the_source_study_and_references_each_source_instance(series: Path, tmp_path: Path) -> None:
    import pydicom

    _, source, _, _, seg_path, _ = write_objects(tmp_path, series)
    seg = pydicom.dcmread(seg_path)
    first = source.headers[0]
    assert seg.StudyInstanceUID == first.StudyInstanceUID
    assert seg.FrameOfReferenceUID == first.FrameOfReferenceUID
    assert seg.PatientName == first.PatientName
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.series_uid
    positions = {str(h.SOPInstanceUID): [float(v) for v in h.ImagePositionPatient] for h in source.headers}
    for frame in seg.PerFrameFunctionalGroupsSequence:
        referenced = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        position = [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
        assert np.allclose(position, positions[referenced], atol=1e-4)  # the frame lies on the slice it cites
    assert "research use only" in seg.ContentDescription.lower()
    assert "research use only" in seg.SeriesDescription.lower()


def test_segments_carry_codes_algorithm_and_a_generic_code_with_a_warning(series: Path, tmp_path: Path) -> None:
    import pydicom

    _, _, _, warnings, seg_path, _ = write_objects(tmp_path, series)
    assert warnings == [
        "DICOM SEG: no code for dark in the card's label table; written with the generic code SCT:85756007 (Tissue)"
    ]
    items = pydicom.dcmread(seg_path).SegmentSequence
    coded = [(i.SegmentLabel, i.SegmentedPropertyCategoryCodeSequence[0].CodeValue,
              i.SegmentedPropertyTypeCodeSequence[0].CodeValue) for i in items]  # fmt: skip
    assert coded == [("brain", "91723000", "12738006"), ("dark", "85756007", "85756007"),
                     ("lesion", "49755003", "52988006")]  # fmt: skip
    algorithm = items[0].SegmentationAlgorithmIdentificationSequence[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("tiny-seg (Tiny segmenter)", "1.2.3")
    assert algorithm.AlgorithmFamilyCodeSequence[0].CodeMeaning == "Artificial Intelligence"
    assert all(item.SegmentAlgorithmType == "AUTOMATIC" for item in items)


def test_sr_holds_one_volume_per_segment_referencing_the_seg(series: Path, tmp_path: Path) -> None:
    hd = need("highdicom", "DICOM SEG output needs highdicom (deepinfer[dicom])")
    labelmap, _, segments, _, seg_path, sr_path = write_objects(tmp_path, series)
    seg = hd.seg.segread(seg_path)
    report = hd.sr.srread(sr_path)
    assert report.StudyInstanceUID == seg.StudyInstanceUID
    groups = report.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == len(segments)
    for number, (group, label) in enumerate(zip(groups, segments, strict=True), start=1):
        reference = group.referenced_segment
        assert reference is not None
        assert reference.referenced_sop_instance_uid == seg.SOPInstanceUID
        assert reference.referenced_segment_numbers == [number]
        (volume,) = group.get_measurements()
        assert volume.name.value == "118565006" and volume.unit.value == "mL"
        assert volume.value == pytest.approx(float(np.count_nonzero(labelmap.array == label.value)))
        assert group.tracking_identifier == label.name


def test_a_result_off_the_source_grid_or_a_source_without_frame_of_reference_is_refused(
    colin27: Path, tmp_path: Path
) -> None:
    need("highdicom", "DICOM SEG output needs highdicom (deepinfer[dicom])")
    files = write_series(colin27_block((16, 16, 6)), tmp_path / "series", f"{UID_ROOT}.51")
    volume = read_volume(tmp_path / "series")
    source = read_dicom_source(tmp_path / "series", volume.metadata["dicom_series_uid"])
    labelmap = regions(volume)
    segments, _ = segment_labels(labelmap, LABELS)
    cropped = Volume(np.ascontiguousarray(labelmap.array[:, :, 1:]), labelmap.geometry.with_size((16, 16, 5)))
    with pytest.raises(InputError, match=r"the result's size 16×16×5 is not the series' 16×16×6"):
        segmentation(cropped, source, segments, ALGORITHM, "t")
    grid = labelmap.geometry
    shifted = Volume(labelmap.array, Geometry((0.0, 0.0, 0.0), grid.spacing, grid.direction, grid.size))
    with pytest.raises(InputError, match="is not on the source slice"):
        segmentation(shifted, source, segments, ALGORITHM, "t")
    for path in files:
        edit_header(path, lambda dataset: delattr(dataset, "FrameOfReferenceUID"))
    source = read_dicom_source(tmp_path / "series", volume.metadata["dicom_series_uid"])
    with pytest.raises(InputError, match="has no Frame of Reference UID"):
        segmentation(labelmap, source, segments, ALGORITHM, "t")


def test_a_value_beyond_any_label_table_is_refused() -> None:
    grid = Geometry((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0), (2, 2, 2))
    array = np.zeros((2, 2, 2), dtype=np.uint32)
    array[1, 1, 1] = 70_000
    with pytest.raises(InputError, match="holds the value 70000; a DICOM SEG takes label values up to 65535"):
        segment_labels(Volume(array, grid), LABELS)
