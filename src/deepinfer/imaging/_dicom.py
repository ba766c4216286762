"""Read a DICOM series from a folder (SimpleITK / GDCM).

The folder's files are grouped by SeriesInstanceUID; the series with the most files is read, its slices in
the order GDCM sorts them (along the slice normal, by ImagePositionPatient). Several series in one folder are
not an error: the largest is used and the volume's metadata says so. A single slice is a volume one voxel
thick (SimpleITK gives it a third spacing of 1 mm). Only the folder's own files are looked at, not
sub-folders.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deepinfer._exceptions import InputError
from deepinfer.imaging._sitk import simpleitk

logger = logging.getLogger(__name__)

_MODALITY_TAG = "0008|0060"


@contextmanager
def _quiet_itk() -> Iterator[None]:
    """Silence ITK's console warnings (e.g. GDCM's "No Series were found") for the duration."""
    sitk = simpleitk()
    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)


def dicom_series_in(folder: Path) -> dict[str, tuple[str, ...]]:
    """Every DICOM series in the folder: SeriesInstanceUID → its files, sorted by GDCM."""
    sitk = simpleitk()
    with _quiet_itk():
        uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
        return {uid: tuple(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)) for uid in uids}


def read_dicom_series(folder: Path) -> tuple[Any, dict[str, str]]:
    """The largest DICOM series in the folder as a SimpleITK image, with metadata saying which it was."""
    sitk = simpleitk()
    series = dicom_series_in(folder)
    if not series:
        raise InputError(f"{folder}: a folder with no DICOM series in it (a DICOM series folder is expected)")
    uid, files = max(series.items(), key=lambda item: len(item[1]))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    try:
        image = reader.Execute()
    except RuntimeError:
        raise InputError(f"{folder}: the DICOM series {uid} ({len(files)} files) cannot be read") from None
    metadata = {"format": "DICOM", "dicom_series_uid": uid, "dicom_files": str(len(files))}
    if reader.HasMetaDataKey(0, _MODALITY_TAG):
        metadata["dicom_modality"] = reader.GetMetaData(0, _MODALITY_TAG).strip()
    if len(series) > 1:
        note = f"the folder holds {len(series)} DICOM series; read the largest, {uid} ({len(files)} files)"
        metadata["note"] = note
        logger.warning("%s: %s", folder, note)
    return image, metadata
