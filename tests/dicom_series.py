"""DICOM series written by the tests from real images (Colin27), and header edits that break their geometry.

Import it as ``from dicom_series import ...`` (imaging, run, CLI and security tests share it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from realparts import COLIN27

UID_ROOT = "1.2.826.0.1.3680043.2.1125.15"


def colin27_block(size: tuple[int, int, int] = (40, 48, 16)) -> Any:
    """A block of Colin27 through the middle of the head as an int16 SimpleITK image (axial slices, 1 mm)."""
    image = sitk.ReadImage(str(COLIN27))
    start = [(n - s) // 2 for n, s in zip(image.GetSize(), size, strict=True)]
    block = sitk.RegionOfInterest(image, list(size), start)
    return sitk.Cast(block, sitk.sitkInt16)


def sagittal(image: Any) -> Any:
    """The same voxels and physical space with the x axis last: one file per sagittal slice."""
    return sitk.PermuteAxes(image, [1, 2, 0])


def write_series(
    image: Any,
    folder: Path,
    uid: str,
    *,
    description: str = "T1 MPRAGE",
    modality: str = "MR",
    image_type: str = "ORIGINAL\\PRIMARY\\M",
    prefix: str = "IM",
) -> list[Path]:
    """One file per slice, as a scanner writes them, in slice order (``files[k]`` is slice ``k``); the file
    names are shuffled (not in slice order), so a reader must sort by position."""
    folder.mkdir(parents=True, exist_ok=True)
    d = image.GetDirection()
    tags = {
        "0008|0060": modality,
        "0008|0008": image_type,
        "0020|000d": f"{UID_ROOT}.0",  # one study
        "0020|000e": uid,
        "0020|0052": f"{UID_ROOT}.0.1",  # one frame of reference
        "0020|0037": "\\".join(f"{v:.10f}" for v in (d[0], d[3], d[6], d[1], d[4], d[7])),
        "0008|103e": description,
        "0018|1030": description,
        "0010|0010": "Test^Colin27",
    }
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    depth = image.GetDepth()
    files = []
    for k in range(depth):
        plane = image[:, :, k]
        for tag, value in tags.items():
            plane.SetMetaData(tag, value)
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        plane.SetMetaData("0020|0032", "\\".join(f"{v:.6f}" for v in position))
        plane.SetMetaData("0020|0013", str(k + 1))
        plane.SetMetaData("0008|0018", f"{uid}.{k + 1}")
        path = folder / f"{prefix}{(k * 7 + 3) % depth:04d}.dcm"
        writer.SetFileName(str(path))
        writer.Execute(plane)
        files.append(path)
    return files


def edit_header(path: Path, change: Callable[[Any], None]) -> None:
    """Rewrite one file with ``change`` applied to its pydicom dataset."""
    import pydicom

    dataset = pydicom.dcmread(path)
    change(dataset)
    dataset.save_as(path)


def move_slice(path: Path, offset: tuple[float, float, float]) -> None:
    """Move one slice's ImagePositionPatient by ``offset`` (mm, LPS)."""

    def change(dataset: Any) -> None:
        position = np.asarray([float(v) for v in dataset.ImagePositionPatient]) + np.asarray(offset)
        dataset.ImagePositionPatient = [f"{v:.6f}" for v in position]

    edit_header(path, change)


def tilt(files: list[Path], millimetres_per_slice: float) -> None:
    """Shear the series as a gantry tilt does: slice ``k`` moves ``k × mm`` along the rows (y)."""
    for k, path in enumerate(files):
        move_slice(path, (0.0, k * millimetres_per_slice, 0.0))


def set_orientation(path: Path, cosines: tuple[float, ...]) -> None:
    def change(dataset: Any) -> None:
        dataset.ImageOrientationPatient = [f"{v:.10f}" for v in cosines]

    edit_header(path, change)


def _pydicom_file(name: str) -> Path:
    import pydicom

    return Path(pydicom.__file__).parent / "data" / "test_files" / name


def _series_with(change: Callable[[list[Path]], None]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        files = write_series(colin27_block((24, 24, 10)), folder / "series", f"{UID_ROOT}.99")
        change(files)
        return folder / "series"

    return build


def _real_file(name: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        (folder / "series").mkdir(parents=True)
        (folder / "series" / name).write_bytes(_pydicom_file(name).read_bytes())
        return folder / "series"

    return build


def _nonuniform(files: list[Path]) -> None:
    for path in files[5:]:
        move_slice(path, (0.0, 0.0, 0.5))


BROKEN_SERIES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "gantry-tilt": (_series_with(lambda files: tilt(files, 0.27)), r"sheared \(gantry tilt of about 15\.1°"),
    "duplicate-positions": (
        _series_with(lambda files: move_slice(files[4], (0.0, 0.0, -1.0))),
        "two slices at the same position",
    ),
    "non-uniform-spacing": (_series_with(_nonuniform), r"non-uniform slice spacing: 1\.5000 mm"),
    "missing-slice": (_series_with(lambda files: files[6].unlink()), r"1 slice\(s\) missing between"),
    "mixed-orientation": (
        _series_with(lambda files: set_orientation(files[2], (1.0, 0.0, 0.0, 0.0, 0.0, -1.0))),
        "mixed slice orientations",
    ),
    "multiframe-rtdose": (_real_file("rtdose.dcm"), r"rtdose\.dcm is a multi-frame \(enhanced\) DICOM object"),
    "multiframe-enhanced-seg": (_real_file("liver_1frame.dcm"), r"liver_1frame\.dcm is a multi-frame"),
}
"""Series whose slices do not make one regular grid: name → (builder of the input folder, the error's words)."""
