"""Read and write volumes: NIfTI, NRRD, MetaImage files and DICOM series folders (SimpleITK).

Reading refuses, with an :class:`InputError` naming the file and the problem, anything that is not one scalar
3D volume with a sane grid: a missing path, an unknown or unparsable file, a truncated file, a 2D or 4D image,
a vector image, an empty dimension, a non-positive or non-finite spacing, a degenerate direction, NaN or
infinite voxels.
The header is checked before the voxels are read, so a 4D series is refused without loading it.

Geometry is copied exactly. What survives a file depends on the format:

- MetaImage (``.mha``/``.mhd``) stores doubles in full: every geometry round-trips bit for bit.
- NRRD stores ``direction × spacing`` per axis, so reading it back rounds the last bit of an oblique grid. We
  write the exact geometry beside it as a key (``deepinfer_geometry``) and read that key back when it agrees
  with the header to 1e-6 (so an edit of the header by another tool wins): every geometry round-trips exactly.
- NIfTI stores origin, spacing and the rotation as float32. A geometry read from a NIfTI file round-trips
  exactly through NIfTI when its direction is axis-aligned (any permutation / flip, e.g. RAS, LAS, LPS); an
  oblique direction comes back within ~1e-7, and a geometry from another source is rounded to float32.
- DICOM series are read only; positions and spacings are decimal strings in the files.

A 4D image with a single time point is taken as the 3D volume it holds.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepinfer._exceptions import DeepInferError, InputError, UsageError
from deepinfer.card import SeriesRule
from deepinfer.imaging._convert import volume_from_sitk, volume_to_sitk
from deepinfer.imaging._detached import detached_data_files
from deepinfer.imaging._dicom import is_dicom_file, is_dicom_zip, read_dicom_file, read_dicom_series, read_dicom_zip
from deepinfer.imaging._nifti import NiftiLayout, nifti_is_complete, nifti_nonfinite_voxels, nifti_voxel_sizes
from deepinfer.imaging._sitk import simpleitk
from deepinfer.imaging._volume import Geometry, Volume

_FORMATS = {
    ".nii.gz": "NIfTI",
    ".nii": "NIfTI",
    ".nrrd": "NRRD",
    ".nhdr": "NRRD",
    ".mha": "MetaImage",
    ".mhd": "MetaImage",
}
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(_FORMATS)
"""File suffixes read and written (``.nhdr`` and ``.mhd`` write a companion data file beside the header)."""

EXACT_GEOMETRY_KEY = "deepinfer_geometry"
_EXACT_GEOMETRY_TOLERANCE = 1e-6
_MIN_DIRECTION_DETERMINANT = 1e-6
_DEFAULT_MAX_IMAGE_BYTES = 8 * 2**30
_MAX_COMPRESSION_RATIO = 2000  # gzip tops out near 1032:1, so no honest file needs more


def image_suffix(path: Path) -> str | None:
    """The supported suffix the file name ends with (``.nii.gz`` counts as one), or None."""
    name = path.name.lower()
    return next((suffix for suffix in SUPPORTED_SUFFIXES if name.endswith(suffix)), None)


# --- reading ---------------------------------------------------------------------------------------------


def read_volume(
    path: Path | str,
    *,
    allow_nonfinite: bool = False,
    self_contained: bool = False,
    series: SeriesRule | None = None,
    series_uid: str | None = None,
) -> Volume:
    """Read a 3D scalar volume from a NIfTI/NRRD/MetaImage file, or a DICOM series from a folder or a ``.zip``.

    Detached voxel data (a ``.mhd``/``.nhdr``, or a ``.mha``/``.nrrd`` naming a data file) must be regular
    files inside the header's folder; ``self_contained=True`` (what the server asks of uploads) refuses
    detached data altogether.

    The array is indexed ``[i, j, k]`` and keeps the file's voxel type. ``metadata["format"]`` names the
    format; a DICOM input also gives ``dicom_series_uid``, ``dicom_files``, ``dicom_description``,
    ``dicom_modality`` and, when it holds several series, a ``note`` saying which was read. The series is the one
    with ``series_uid``, else the only one meeting the ``series`` rule, else the only one: anything else is an
    :class:`InputError` listing the series found (see :mod:`deepinfer.imaging._series`)."""
    path = Path(path)
    nifti: NiftiLayout | None = None
    dicom_zip = path.is_file() and is_dicom_zip(path)
    if path.is_dir() or dicom_zip or (path.is_file() and image_suffix(path) is None and is_dicom_file(path)):
        image, metadata = _read_dicom(path, series, series_uid, dicom_zip)
        _check_layout(path, image.GetDimension(), image.GetSize(), image.GetNumberOfComponentsPerPixel())
        _check_grid(path, image)
    elif path.is_file():
        image, metadata, nifti = _read_image_file(path, self_contained)
    elif path.exists():
        raise InputError(f"{path}: not a regular file or folder")
    else:
        raise InputError(f"{path}: no such file or folder")
    volume = volume_from_sitk(_drop_single_time_point(image), metadata)
    volume = _with_exact_geometry(volume, image)
    if nifti is not None:
        _recover_nifti_nonfinite(path, nifti, volume, allow_nonfinite)
    if not allow_nonfinite:
        _check_finite(path, volume)
    return volume


def _read_dicom(
    path: Path, series: SeriesRule | None, series_uid: str | None, dicom_zip: bool
) -> tuple[Any, dict[str, str]]:
    """A DICOM folder, zip, or single (ultrasound) file as a SimpleITK image and its metadata."""
    cap = max_image_bytes()
    if dicom_zip:
        return read_dicom_zip(path, series, series_uid, cap=cap)
    if path.is_dir():
        return read_dicom_series(path, series, series_uid, cap=cap)
    if series_uid is not None:
        raise InputError(f"{path}: one DICOM file holds one series; --series is for a folder or zip")
    return read_dicom_file(path, cap)


def image_files(path: Path | str, *, self_contained: bool = False) -> list[Path]:
    """The files reading ``path`` opens: the file and its detached voxel data (checked as by
    :func:`read_volume`), every file below a DICOM folder, sorted, or a DICOM zip itself."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    if is_dicom_zip(path) or (image_suffix(path) is None and is_dicom_file(path)):
        return [path]
    return [path, *detached_data_files(path, _kind(path), self_contained=self_contained)]


def _kind(path: Path) -> str:
    suffix = image_suffix(path)
    if suffix is None:
        supported = ", ".join(SUPPORTED_SUFFIXES)
        raise InputError(
            f"{path}: unsupported file type (expected {supported}, a DICOM folder or .zip, or an ultrasound .dcm)"
        )
    return _FORMATS[suffix]


def _read_image_file(path: Path, self_contained: bool) -> tuple[Any, dict[str, str], NiftiLayout | None]:
    sitk = simpleitk()
    kind = _kind(path)
    detached = detached_data_files(path, kind, self_contained=self_contained)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        raise InputError(f"{path}: not a readable {kind} image (its header cannot be parsed)") from None
    _check_layout(path, reader.GetDimension(), reader.GetSize(), reader.GetNumberOfComponents())
    _check_grid(path, reader)
    _check_allocation(path, reader, detached)
    # only a NIfTI file: a MetaImage written from a NIfTI image carries the NIfTI keys in its header
    nifti = NiftiLayout.from_reader(reader) if kind == "NIfTI" else None
    if nifti is not None:
        sizes = nifti_voxel_sizes(path)
        if not all(math.isfinite(size) and size > 0 for size in sizes):
            raise InputError(f"{path}: invalid voxel spacing {sizes} in its header (must be positive, finite)")
    if nifti is not None and not nifti_is_complete(path, nifti):
        raise InputError(f"{path}: the file is truncated (it holds less voxel data than its header says)")
    try:
        image = reader.Execute()
    except RuntimeError:
        raise InputError(f"{path}: its voxel data cannot be read (the file is truncated or corrupt)") from None
    return image, {"format": kind}, nifti


def max_image_bytes() -> int:
    """The most voxel memory one input may ask for (``DEEPINFER_MAX_IMAGE_BYTES``, default 8 GiB)."""
    configured = os.environ.get("DEEPINFER_MAX_IMAGE_BYTES", "")
    return int(configured) if configured.isdigit() else _DEFAULT_MAX_IMAGE_BYTES


def _on_disk_bytes(path: Path, detached: Sequence[Path]) -> int:
    """The header's size plus that of the detached data files it names (each counted once)."""
    return path.stat().st_size + sum(p.stat().st_size for p in dict.fromkeys(detached))


def _check_allocation(path: Path, reader: Any, detached: Sequence[Path]) -> None:
    """Refuse a header that asks for more voxel memory than the cap, or than its bytes could hold.

    A header is tiny; its size fields can ask for many gigabytes. Checked before any voxel is allocated:
    voxel count × bytes per voxel against :func:`max_image_bytes`, and against the file's size times the
    largest compression ratio gzip reaches (about 1000:1 on constant data)."""
    sitk = simpleitk()
    itemsize = int(sitk.GetArrayViewFromImage(sitk.Image([1, 1, 1], reader.GetPixelID())).dtype.itemsize)
    wanted = math.prod(int(n) for n in reader.GetSize()) * itemsize * int(reader.GetNumberOfComponents())
    cap = max_image_bytes()
    if wanted > cap:
        raise InputError(
            f"{path}: its header asks for {wanted / 2**30:.1f} GiB of voxels (size {_size_text(reader.GetSize())}), "
            f"more than the {cap / 2**30:.1f} GiB allowed (DEEPINFER_MAX_IMAGE_BYTES)"
        )
    on_disk = _on_disk_bytes(path, detached)
    if wanted > on_disk * _MAX_COMPRESSION_RATIO:
        raise InputError(
            f"{path}: its header asks for {wanted:,} bytes of voxels but the file holds only "
            f"{on_disk:,} bytes: the header is wrong or the file is truncated"
        )


def _size_text(size: Sequence[int]) -> str:
    return "×".join(str(n) for n in size)


def _check_layout(path: Path, dimension: int, size: Sequence[int], components: int) -> None:
    """One scalar component, three spatial axes (a fourth of length 1 is allowed), none empty."""
    if components != 1:
        raise InputError(
            f"{path}: has {components} components per voxel (a vector or colour image); a scalar volume is needed"
        )
    if not (dimension == 3 or (dimension == 4 and size[3] == 1)):
        extra = f", a series of {size[3]} volumes" if dimension == 4 else ""
        raise InputError(f"{path}: is a {dimension}D image (size {_size_text(size)}{extra}); a 3D volume is needed")
    if 0 in size:
        raise InputError(f"{path}: is empty (size {_size_text(size)})")


def _check_grid(path: Path, source: Any) -> None:
    """Finite origin, positive finite spacing, invertible finite direction (of an image or a reader)."""
    dimension = source.GetDimension()
    origin = np.asarray(source.GetOrigin(), dtype=np.float64)[:3]
    spacing = np.asarray(source.GetSpacing(), dtype=np.float64)[:3]
    direction = np.asarray(source.GetDirection(), dtype=np.float64).reshape(dimension, dimension)[:3, :3]
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise InputError(f"{path}: invalid voxel spacing {tuple(spacing.tolist())} (must be positive, finite)")
    if not np.all(np.isfinite(origin)):
        raise InputError(f"{path}: invalid origin {tuple(origin.tolist())} (must be finite)")
    if not np.all(np.isfinite(direction)) or abs(np.linalg.det(direction)) < _MIN_DIRECTION_DETERMINANT:
        raise InputError(f"{path}: invalid direction matrix {direction.tolist()} (must be finite, invertible)")


def _drop_single_time_point(image: Any) -> Any:
    return image[:, :, :, 0] if image.GetDimension() == 4 else image


def _nonfinite_error(path: Path, count: int) -> InputError:
    return InputError(f"{path}: {count} voxel(s) are NaN or infinite")


def _check_finite(path: Path, volume: Volume) -> None:
    array = volume.array
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        raise _nonfinite_error(path, int(array.size - np.count_nonzero(np.isfinite(array))))


def _recover_nifti_nonfinite(path: Path, layout: NiftiLayout, volume: Volume, allow: bool) -> None:
    """Refuse (or, when allowed, put back) the NaN/Inf voxels that ITK's NIfTI reader turned into 0."""
    in_file_order = volume.array.T.reshape(-1)  # a view: the array is the transpose of SimpleITK's buffer
    count = nifti_nonfinite_voxels(path, layout, in_file_order if allow else None)
    if count and not allow:
        raise _nonfinite_error(path, count)


# --- the exact-geometry key --------------------------------------------------------------------------------


def _encode_geometry(geometry: Geometry) -> str:
    return " ".join(repr(value) for value in (*geometry.origin, *geometry.spacing, *geometry.direction))


def _decode_geometry(text: str, size: tuple[int, int, int]) -> Geometry | None:
    try:
        values = [float(item) for item in text.split()]
    except ValueError:
        return None
    if len(values) != 15 or not all(math.isfinite(v) for v in values):
        return None
    x, y, z, sx, sy, sz = values[:6]
    return Geometry((x, y, z), (sx, sy, sz), tuple(values[6:]), size)


def _with_exact_geometry(volume: Volume, image: Any) -> Volume:
    """The volume with the geometry its file's exact-geometry key records, if that agrees with the header."""
    if not image.HasMetaDataKey(EXACT_GEOMETRY_KEY):
        return volume
    exact = _decode_geometry(image.GetMetaData(EXACT_GEOMETRY_KEY), volume.geometry.size)
    if exact is None or not exact.same_as(volume.geometry, tolerance=_EXACT_GEOMETRY_TOLERANCE):
        return volume
    return Volume(volume.array, exact, volume.metadata)


# --- writing ---------------------------------------------------------------------------------------------


def write_volume(volume: Volume, path: Path | str, *, compress: bool = True) -> None:
    """Write the volume with exactly its geometry and voxel type; the format follows the suffix.

    ``compress`` applies to NRRD and MetaImage (NIfTI compression follows ``.nii.gz`` / ``.nii``). The image
    is written into a temporary folder beside the target and then renamed into place, so a failed write
    leaves nothing behind (a companion data file is renamed before its header). Missing parent folders are
    created. ``volume.metadata`` is not written."""
    sitk = simpleitk()
    path = Path(path)
    if image_suffix(path) is None:
        supported = ", ".join(SUPPORTED_SUFFIXES)
        kind = "".join(path.suffixes) or "suffix-less"
        raise UsageError(f"{path}: cannot write a {kind} file (use {supported})")
    image = volume_to_sitk(volume)
    image.SetMetaData(EXACT_GEOMETRY_KEY, _encode_geometry(volume.geometry))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{path.name}.tmp-", dir=path.parent) as staging:
            sitk.WriteImage(image, str(Path(staging) / path.name), compress)
            _move_into_place(Path(staging), path)
    except (OSError, RuntimeError) as error:
        raise DeepInferError(f"{path}: cannot write the image ({_write_failure(error, path, volume)})") from None


def _write_failure(error: OSError | RuntimeError, path: Path, volume: Volume) -> str:
    """Why a write failed; ITK's writers do not say, so a folder with less free space than the voxels is named."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return "no space left on the device"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return "the writer failed"
    return "no space left on the device" if free < volume.array.nbytes + 2**20 else "the writer failed"


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename every staged file into the target's folder, the header (the target itself) last."""
    staged = sorted(staging.iterdir(), key=lambda item: item.name == target.name)
    for item in staged:
        os.replace(item, target.parent / item.name)
