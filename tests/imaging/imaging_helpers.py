"""Helpers of the imaging tests: real volumes re-gridded, and DICOM series written slice by slice."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from deepinfer.imaging import Geometry, Volume


def rotation_direction(degrees_x: float, degrees_z: float) -> tuple[float, ...]:
    """An oblique direction (row-major 3×3): a rotation about x then about z, values that are not float32."""
    ax, az = math.radians(degrees_x), math.radians(degrees_z)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return tuple(float(v) for v in (rz @ rx).ravel())


def with_geometry(volume: Volume, **changes: Any) -> Volume:
    """The same voxels on another grid (origin, spacing and/or direction replaced)."""
    g = volume.geometry
    geometry = Geometry(
        origin=changes.get("origin", g.origin),
        spacing=changes.get("spacing", g.spacing),
        direction=changes.get("direction", g.direction),
        size=g.size,
    )
    return Volume(volume.array, geometry, dict(volume.metadata))


def crop(volume: Volume, start: Sequence[int], size: Sequence[int]) -> Volume:
    """A sub-volume with the geometry of that region (origin moved to the first voxel kept)."""
    stop = [a + n for a, n in zip(start, size, strict=True)]
    array = volume.array[start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]]
    corner = volume.geometry.index_to_physical @ np.array([*start, 1.0])
    g = volume.geometry
    x, y, z = (float(v) for v in corner[:3])
    i, j, k = array.shape
    return Volume(np.ascontiguousarray(array), Geometry((x, y, z), g.spacing, g.direction, (i, j, k)))


def write_dicom_series(
    image: Any, folder: Path, series_uid: str, *, modality: str = "MR", shuffle_names: bool = True
) -> list[Path]:
    """Write a 3D SimpleITK image as a DICOM series, one file per slice, with the per-slice position and the
    orientation tags a scanner writes (as SimpleITK's own DICOM-series example does).

    With ``shuffle_names`` the file names do not follow slice order, so a reader must sort by position."""
    folder.mkdir(parents=True, exist_ok=True)
    d = image.GetDirection()
    orientation = "\\".join(f"{v:.10f}" for v in (d[0], d[3], d[6], d[1], d[4], d[7]))
    shared_tags = {
        "0008|0060": modality,
        "0008|0008": "DERIVED\\SECONDARY",
        "0020|000d": series_uid + ".0",  # study
        "0020|000e": series_uid,
        "0020|0037": orientation,
        "0008|103e": "deepinfer test series",
        "0010|0010": "Test^Colin27",
    }
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    depth = image.GetDepth()
    paths = []
    for k in range(depth):
        slice_image = image[:, :, k]
        for tag, value in shared_tags.items():
            slice_image.SetMetaData(tag, value)
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        slice_image.SetMetaData("0020|0032", "\\".join(f"{v:.6f}" for v in position))
        slice_image.SetMetaData("0020|0013", str(k + 1))
        slice_image.SetMetaData("0008|0018", f"{series_uid}.{k + 1}")  # SOP instance
        name = (k * 7 + 3) % depth if shuffle_names else k
        path = folder / f"IM{name:04d}.dcm"
        writer.SetFileName(str(path))
        writer.Execute(slice_image)
        paths.append(path)
    return paths


def pydicom_test_file(name: str) -> Path:
    """A real DICOM file from pydicom's own test data (inside the installed package; nothing downloaded)."""
    import pydicom

    path = Path(pydicom.__file__).parent / "data" / "test_files" / name
    assert path.is_file(), f"pydicom no longer ships {name}"
    return path
