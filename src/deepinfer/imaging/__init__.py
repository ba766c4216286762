"""Volumes with exact geometry: read and write NIfTI, NRRD, MHA/MHD and DICOM series (SimpleITK); DICOM SEG and SR
of a labelmap on its source series, and a DICOM SR of a classifier's class scores (highdicom)."""

from deepinfer.imaging._convert import volume_from_sitk, volume_to_sitk
from deepinfer.imaging._dicom_scores_sr import BestPlane, ClassScoresSummary, class_scores_report
from deepinfer.imaging._dicom_seg import (
    GENERIC_CODE,
    INSTALL_HINT,
    DicomAlgorithm,
    DicomSource,
    check_source_grid,
    dicom_bytes,
    read_dicom_source,
    require_highdicom,
    segment_labels,
    segmentation,
)
from deepinfer.imaging._dicom_sr import measurement_report
from deepinfer.imaging._io import SUPPORTED_SUFFIXES, image_files, image_suffix, read_volume, write_volume
from deepinfer.imaging._volume import Geometry, Volume

__all__ = [
    "GENERIC_CODE",
    "INSTALL_HINT",
    "SUPPORTED_SUFFIXES",
    "BestPlane",
    "ClassScoresSummary",
    "DicomAlgorithm",
    "DicomSource",
    "Geometry",
    "Volume",
    "check_source_grid",
    "class_scores_report",
    "dicom_bytes",
    "image_files",
    "image_suffix",
    "measurement_report",
    "read_dicom_source",
    "read_volume",
    "require_highdicom",
    "segment_labels",
    "segmentation",
    "volume_from_sitk",
    "volume_to_sitk",
    "write_volume",
]
