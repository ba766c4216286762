"""Conversions between :class:`Volume` and SimpleITK images.

A Volume's array is indexed ``[i, j, k]``; SimpleITK's ``GetArrayFromImage`` gives ``[k, j, i]``. The two are
each other's transpose, so converting costs one copy (SimpleITK's), never a reordering pass over the voxels:
an array read from SimpleITK is the Fortran-ordered transpose of its buffer.

SimpleITK is imported inside the functions so that ``import deepinfer`` stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from deepinfer.imaging._sitk import simpleitk
from deepinfer.imaging._volume import Geometry, Volume

# numpy dtypes that SimpleITK stores as they are; bool and float16 are widened (SimpleITK has neither).
_INTEGER_TYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")
_NATIVE_DTYPES = frozenset(np.dtype(name) for name in (*_INTEGER_TYPES, "float32", "float64"))
_WIDENED_DTYPES: dict[np.dtype[Any], np.dtype[Any]] = {
    np.dtype(np.bool_): np.dtype(np.uint8),
    np.dtype(np.float16): np.dtype(np.float32),
}


def _triple(values: Sequence[float]) -> tuple[float, float, float]:
    x, y, z = (float(v) for v in values)
    return x, y, z


def geometry_from_sitk(image: Any) -> Geometry:
    """The geometry of a 3D SimpleITK image (or of a reader after ``ReadImageInformation``)."""
    i, j, k = (int(v) for v in image.GetSize())
    return Geometry(
        origin=_triple(image.GetOrigin()),
        spacing=_triple(image.GetSpacing()),
        direction=tuple(float(v) for v in image.GetDirection()),
        size=(i, j, k),
    )


def volume_from_sitk(image: Any, metadata: Mapping[str, str] | None = None) -> Volume:
    """A Volume holding the voxels (a copy) and the exact geometry of a scalar 3D SimpleITK image."""
    sitk = simpleitk()
    if image.GetDimension() != 3:
        raise ValueError(f"a Volume is 3D, got a {image.GetDimension()}D image")
    if image.GetNumberOfComponentsPerPixel() != 1:
        components = image.GetNumberOfComponentsPerPixel()
        raise ValueError(f"a Volume is scalar, got {components} components per voxel")
    array: npt.NDArray[np.generic] = sitk.GetArrayFromImage(image).T
    return Volume(array, geometry_from_sitk(image), dict(metadata or {}))


def sitk_compatible(array: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """The array in a dtype SimpleITK stores (bool → uint8, float16 → float32); other dtypes are refused."""
    if array.dtype in _NATIVE_DTYPES:
        return array
    if array.dtype in _WIDENED_DTYPES:
        return array.astype(_WIDENED_DTYPES[array.dtype])
    raise ValueError(f"voxels of dtype {array.dtype} cannot be stored in an image")


def volume_to_sitk(volume: Volume) -> Any:
    """A SimpleITK image with the volume's voxels (a copy) and exactly its origin, spacing and direction."""
    sitk = simpleitk()
    array = sitk_compatible(volume.array)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.T), isVector=False)
    geometry = volume.geometry
    image.SetOrigin(geometry.origin)
    image.SetSpacing(geometry.spacing)
    image.SetDirection(geometry.direction)
    return image
