"""A DICOM Structured Report (TID 1500 Measurement Report, Comprehensive 3D SR) of a SEG's segment volumes.

One measurement group per segment of the SEG written for the same result: it references the segment (the SEG
instance, the segment number and the source series), tracks it by the segment's own Tracking UID and name, names
the finding by the segment's coded category and type, and holds one measurement, the volume in millilitres (SNOMED
CT 118565006 Volume, UCUM ``mL``) that deepinfer's per-label statistics computed. The observer is the device
deepinfer with the model's id; the model is also the algorithm identification of every measurement. The report
belongs to the source study, lists the SEG and the source images as its evidence, and says it is for research use
only (its Series Description).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from deepinfer._exceptions import InputError
from deepinfer.imaging._dicom_seg import (
    DicomAlgorithm,
    DicomSource,
    _series_number,
    require_highdicom,
)

_LO: Final = 64


def _code(hd: Any, value: str, scheme: str, meaning: str) -> Any:
    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _referenced_segment(hd: Any, seg: Any, item: Any, source: DicomSource) -> Any:
    """The segment's reference: the SEG instance, the segment number and the source series it was computed on."""
    return hd.sr.ReferencedSegment(
        sop_class_uid=seg.SOPClassUID,
        sop_instance_uid=seg.SOPInstanceUID,
        segment_number=int(item.SegmentNumber),
        source_series=hd.sr.SourceSeriesForSegmentation(source.series_uid),
    )


def _group(hd: Any, seg: Any, item: Any, source: DicomSource, volume_ml: float, algorithm: Any) -> Any:
    volume = hd.sr.Measurement(
        name=_code(hd, "118565006", "SCT", "Volume"),
        value=float(volume_ml),
        unit=_code(hd, "mL", "UCUM", "milliliter"),
        algorithm_id=algorithm,
    )
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=item.TrackingUID, identifier=str(item.SegmentLabel)),
        referenced_segment=_referenced_segment(hd, seg, item, source),
        finding_type=item.SegmentedPropertyTypeCodeSequence[0],
        finding_category=item.SegmentedPropertyCategoryCodeSequence[0],
        algorithm_id=algorithm,
        measurements=[volume],
    )


def measurement_report(
    seg: Any, source: DicomSource, volumes_ml: Mapping[int, float], algorithm: DicomAlgorithm, software: str
) -> Any:
    """A TID 1500 report of ``seg``: the volume of each segment (``volumes_ml``: segment number → mL)."""
    hd = require_highdicom()
    missing = [int(item.SegmentNumber) for item in seg.SegmentSequence if int(item.SegmentNumber) not in volumes_ml]
    if missing:
        raise InputError(f"{source.path}: no volume for segment(s) {missing} of the DICOM SEG")
    try:
        sr = _report(hd, seg, source, volumes_ml, algorithm, software)
    except (ValueError, TypeError, AttributeError, KeyError) as error:  # what highdicom raises on odd headers
        raise InputError(
            f"{source.path}: DICOM series {source.series_uid}: no DICOM SR can be made of it ({error})"
        ) from None
    sr.SeriesDescription = f"{algorithm.name} volumes (research use only)"[:_LO]
    return sr


def _report(
    hd: Any, seg: Any, source: DicomSource, volumes_ml: Mapping[int, float], algorithm: DicomAlgorithm, software: str
) -> Any:
    identification = algorithm_identification(hd, algorithm)
    groups = [
        _group(hd, seg, item, source, volumes_ml[int(item.SegmentNumber)], identification)
        for item in seg.SegmentSequence
    ]
    return device_report(hd, groups, [seg, *source.headers], source, algorithm, software, 1001)


def algorithm_identification(hd: Any, algorithm: DicomAlgorithm) -> Any:
    """The model (id, name, version) as the algorithm of an SR's measurements."""
    return hd.sr.AlgorithmIdentification(
        name=f"{algorithm.model_id} ({algorithm.name})"[:_LO], version=algorithm.version[:_LO]
    )


def device_report(
    hd: Any,
    groups: list[Any],
    evidence: list[Any],
    source: DicomSource,
    algorithm: DicomAlgorithm,
    software: str,
    series_number: int,
) -> Any:
    """A TID 1500 measurement report of ``groups``, observed by deepinfer as a device, in a new series of the
    source study (deepinfer's segment volumes and class scores SRs)."""
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=hd.UID(), name="deepinfer", manufacturer_name="deepinfer", model_name=algorithm.model_id[:_LO]
    )
    observer = hd.sr.ObserverContext(
        observer_type=_code(hd, "121007", "DCM", "Device"), observer_identifying_attributes=device
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=_code(hd, "363679005", "SCT", "Imaging procedure"),
        imaging_measurements=groups,
    )
    return hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report[0],
        series_instance_uid=hd.UID(),
        series_number=_series_number(source, series_number),
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="deepinfer",
        is_complete=True,
        software_versions=software[:_LO],
    )
