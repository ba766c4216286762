"""Read one DICOM series from a folder or a zip: pydicom chooses it, SimpleITK (GDCM) reads its voxels.

The series is chosen from the headers (:mod:`deepinfer.imaging._series`: by UID, by the card's rule, or the only
one; never the largest by default), its slices ordered along the slice normal and checked for one regular grid
(:mod:`deepinfer.imaging._slices`); SimpleITK then reads exactly those files in that order. Every file below the
folder is looked at, so a DICOMDIR's media folder reads like any other. A zip is extracted with the artifact
store's safe extraction (no links, no paths outside, capped sizes) into a temporary folder that is removed
afterwards. A single slice is a volume one voxel thick (SimpleITK gives it a third spacing of 1 mm).
"""

from __future__ import annotations

import importlib
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deepinfer._exceptions import FetchError, InputError
from deepinfer.card import SeriesRule
from deepinfer.imaging._convert import volume_to_sitk
from deepinfer.imaging._series import choose_series, scan_series
from deepinfer.imaging._sitk import simpleitk
from deepinfer.imaging._slices import ordered_slices
from deepinfer.imaging._ultrasound import is_ultrasound, read_ultrasound
from deepinfer.imaging._volume import Geometry, Volume
from deepinfer.store import extract_archive

_MODALITY_TAG = "0008|0060"
_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
_DEFAULT_CAP = 8 * 2**30


@contextmanager
def _quiet_itk() -> Iterator[None]:
    """Silence ITK's console warnings for the duration."""
    sitk = simpleitk()
    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)


def is_dicom_zip(path: Path) -> bool:
    return path.name.lower().endswith(".zip")


def read_dicom_series(
    folder: Path,
    rule: SeriesRule | None = None,
    uid: str | None = None,
    *,
    source: Path | None = None,
    cap: int = _DEFAULT_CAP,
) -> tuple[Any, dict[str, str]]:
    """The chosen DICOM series below ``folder`` as a SimpleITK image, with metadata saying which it was
    (``source``: the path error messages name, the zip a folder was extracted from). An ultrasound series is
    read as a volume of frames (:mod:`deepinfer.imaging._ultrasound`; ``cap``: its most decoding bytes)."""
    sitk = simpleitk()
    source = source or folder
    found = scan_series(folder, source)
    series = choose_series(source, found, rule, uid)
    if is_ultrasound(series.headers[0]):
        image, metadata = _ultrasound_image(source, series.files, folder, cap)
        if len(found) > 1:
            metadata["note"] += f"; the input holds {len(found)} DICOM series, {series.uid} was read"
        return image, metadata
    files = ordered_slices(source, folder, series)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(path) for path in files])
    reader.MetaDataDictionaryArrayUpdateOn()
    try:
        with _quiet_itk():
            image = reader.Execute()
    except RuntimeError:
        raise InputError(f"{source}: the DICOM series {series.uid} ({len(files)} files) cannot be read") from None
    metadata = {
        "format": "DICOM",
        "dicom_series_uid": series.uid,
        "dicom_files": str(len(files)),
        "dicom_description": series.description,
    }
    if reader.HasMetaDataKey(0, _MODALITY_TAG):
        metadata["dicom_modality"] = reader.GetMetaData(0, _MODALITY_TAG).strip()
    if len(found) > 1:
        metadata["note"] = f"the input holds {len(found)} DICOM series; read {series.uid} ({len(files)} files)"
    return image, metadata


def read_dicom_file(path: Path, cap: int = _DEFAULT_CAP) -> tuple[Any, dict[str, str]]:
    """One ultrasound DICOM file (single-frame or cine) as a volume of frames; any other DICOM file is refused
    (a volume of another modality is a series: give its folder or zip)."""
    pydicom = importlib.import_module("pydicom")
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as error:  # pydicom raises many kinds on a broken header
        raise InputError(f"{path}: not a readable DICOM file ({type(error).__name__})") from None
    if not is_ultrasound(header):
        modality = str(header.get("Modality", "")).strip() or "no modality"
        raise InputError(
            f"{path}: a single DICOM file is read only for ultrasound (this one is {modality}); "
            "give the folder or zip of its series"
        )
    return _ultrasound_image(path, [path], None, cap)


def _ultrasound_image(source: Path, files: Sequence[Path], root: Path | None, cap: int) -> tuple[Any, dict[str, str]]:
    array, spacing, metadata = read_ultrasound(source, files, root, cap)
    size = (int(array.shape[0]), int(array.shape[1]), int(array.shape[2]))
    geometry = Geometry((0.0, 0.0, 0.0), spacing, _IDENTITY, size)
    return volume_to_sitk(Volume(array, geometry)), metadata


def is_dicom_file(path: Path) -> bool:
    """A ``.dcm`` name, or the DICOM preamble's ``DICM`` marker at byte 128."""
    if path.name.lower().endswith(".dcm"):
        return True
    try:
        with path.open("rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def read_dicom_zip(
    archive: Path, rule: SeriesRule | None = None, uid: str | None = None, *, cap: int = _DEFAULT_CAP
) -> tuple[Any, dict[str, str]]:
    """The chosen DICOM series of a zip, extracted safely into a temporary folder (removed afterwards)."""
    if not zipfile.is_zipfile(archive):
        raise InputError(f"{archive}: not a zip archive (a .zip input must hold DICOM files)")
    with tempfile.TemporaryDirectory(prefix="deepinfer-dicom-") as scratch:
        folder = Path(scratch) / "series"
        try:
            extract_archive(archive, folder)
        except FetchError as error:
            raise InputError(f"{archive}: refused: {str(error).removeprefix(archive.name + ': ')}") from None
        return read_dicom_series(folder, rule, uid, source=archive, cap=cap)
