"""Volumes with exact geometry: read and write NIfTI, NRRD, MHA/MHD and DICOM series (SimpleITK)."""

from deepinfer.imaging._volume import Geometry, Volume

__all__ = ["Geometry", "Volume"]
