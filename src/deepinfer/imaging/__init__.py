"""Volumes with exact geometry: read and write NIfTI, NRRD, MHA/MHD and DICOM series (SimpleITK)."""

from deepinfer.imaging._convert import volume_from_sitk, volume_to_sitk
from deepinfer.imaging._io import SUPPORTED_SUFFIXES, image_files, image_suffix, read_volume, write_volume
from deepinfer.imaging._volume import Geometry, Volume

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Geometry",
    "Volume",
    "image_files",
    "image_suffix",
    "read_volume",
    "volume_from_sitk",
    "volume_to_sitk",
    "write_volume",
]
