"""NIfTI checks SimpleITK (ITK 5) does not make: a truncated file, and NaN/Inf voxels.

ITK's NIfTI reader does not notice a file cut short (a `.nii.gz` whose gzip stream stops early, or a `.nii`
shorter than its header says): it returns the voxels it got and leaves the rest undefined. So before reading
we compare the size the header promises (``vox_offset`` + voxel bytes) with what the file holds:

- `.nii`: the file size;
- gzip: first the stream's trailer (ISIZE, the uncompressed size modulo 2³²), which costs one seek; only when
  that disagrees (a truncated file, or a legitimate multi-member gzip) is the stream decompressed and counted.

ITK's NIfTI reader also silently turns every NaN and ±Inf voxel into 0 (fixed only in ITK 6). So for a float
NIfTI the raw voxels are scanned once more after reading, chunk by chunk: non-finite ones are counted and, when
the caller allows them, put back.
"""

from __future__ import annotations

import gzip
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
_MAX_OUTPUT = 1 << 24  # decompress at most this much per step, so memory stays small whatever the ratio
_SCAN_BYTES = 1 << 24
_HEADER_KEYS = ("dim[0]", "bitpix", "vox_offset", "datatype")
_FLOAT_DATATYPES = {16: "f4", 64: "f8"}  # NIFTI_TYPE_FLOAT32, NIFTI_TYPE_FLOAT64
_NIFTI1_HEADER_SIZE, _NIFTI2_HEADER_SIZE = 348, 540


@dataclass(frozen=True)
class NiftiLayout:
    """Where a NIfTI file's voxels are and how they are stored, from its header."""

    voxel_offset: int
    voxel_count: int
    bits_per_voxel: int
    datatype: int
    slope: float
    intercept: float

    @classmethod
    def from_reader(cls, reader: Any) -> NiftiLayout | None:
        """The layout a reader (after ``ReadImageInformation``) found; None when it did not read a NIfTI
        header (whatever the file's suffix)."""
        if not all(reader.HasMetaDataKey(key) for key in _HEADER_KEYS):
            return None
        ndim = int(reader.GetMetaData("dim[0]"))
        slope = _header_float(reader, "scl_slope", 0.0)
        return cls(
            voxel_offset=int(float(reader.GetMetaData("vox_offset"))),
            voxel_count=math.prod(int(reader.GetMetaData(f"dim[{axis}]")) for axis in range(1, ndim + 1)),
            bits_per_voxel=int(reader.GetMetaData("bitpix")),
            datatype=int(reader.GetMetaData("datatype")),
            slope=slope if slope != 0.0 else 1.0,  # as ITK: a zero (or missing) slope means no scaling
            intercept=_header_float(reader, "scl_inter", 0.0),
        )

    @property
    def expected_bytes(self) -> int:
        return self.voxel_offset + self.voxel_count * self.bits_per_voxel // 8

    @property
    def is_float(self) -> bool:
        return self.datatype in _FLOAT_DATATYPES


def _header_float(reader: Any, key: str, default: float) -> float:
    try:
        value = float(reader.GetMetaData(key)) if reader.HasMetaDataKey(key) else default
    except ValueError:
        return default
    return value if math.isfinite(value) else default


class _ByteStream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...


def nifti_is_complete(path: Path, layout: NiftiLayout) -> bool:
    """Whether the (possibly gzip-compressed) file holds all the voxel data its header promises."""
    expected_bytes = layout.expected_bytes
    with path.open("rb") as stream:
        compressed = stream.read(2) == _GZIP_MAGIC
    if not compressed:
        return path.stat().st_size >= expected_bytes
    if _gzip_trailer_size(path) == expected_bytes % 2**32:
        return True
    size = _gunzipped_size(path)
    return size is not None and size >= expected_bytes


def nifti_nonfinite_voxels(path: Path, layout: NiftiLayout, restore_into: npt.NDArray[np.generic] | None = None) -> int:
    """How many voxels of a float NIfTI file are NaN or ±Inf on disk (ITK 5 reads them as 0).

    ``restore_into``, the voxels as read, flat in file order (x fastest), gets those voxels back (scaled by
    the header's slope and intercept, as ITK scales the others)."""
    if not layout.is_float:
        return 0
    with path.open("rb") as raw:
        stream = _open_header(raw)
        dtype = np.dtype(_FLOAT_DATATYPES[layout.datatype]).newbyteorder(_byte_order(stream.read(4)))
        stream.seek(layout.voxel_offset)
        return _scan_nonfinite(stream, dtype, layout, restore_into)


def _open_header(raw: Any) -> _ByteStream:
    """The file's bytes as a stream, through gzip when the file is compressed."""
    compressed = raw.read(2) == _GZIP_MAGIC
    raw.seek(0)
    stream: _ByteStream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
    return stream


def nifti_voxel_sizes(path: Path) -> tuple[float, float, float]:
    """pixdim[1:4] as stored in the header. ITK replaces a NaN, infinite or zero pixdim by 1.0 without a word,
    so the raw values are read here (NIfTI-1: float32 at byte 76; NIfTI-2: float64 at byte 104)."""
    with path.open("rb") as raw:
        stream = _open_header(raw)
        head = stream.read(_NIFTI2_HEADER_SIZE)
    order = _byte_order(head[:4])
    nifti2 = int.from_bytes(head[:4], "little" if order == "<" else "big") == _NIFTI2_HEADER_SIZE
    dtype, offset = (np.dtype(f"{order}f8"), 104) if nifti2 else (np.dtype(f"{order}f4"), 76)
    values = np.frombuffer(head, dtype=dtype, count=4, offset=offset)
    return float(values[1]), float(values[2]), float(values[3])


def _byte_order(first_bytes: bytes) -> Literal["<", ">"]:
    """'<' or '>': the byte order in which the header's first field (its size, 348 or 540) reads right."""
    little = int.from_bytes(first_bytes, "little")
    return "<" if little in (_NIFTI1_HEADER_SIZE, _NIFTI2_HEADER_SIZE) else ">"


def _scan_nonfinite(
    stream: _ByteStream, dtype: np.dtype[Any], layout: NiftiLayout, restore_into: npt.NDArray[np.generic] | None
) -> int:
    count = 0
    start = 0
    step = max(1, _SCAN_BYTES // dtype.itemsize)
    while start < layout.voxel_count:
        wanted = min(step, layout.voxel_count - start)
        values = np.frombuffer(stream.read(wanted * dtype.itemsize), dtype=dtype)
        bad = np.flatnonzero(~np.isfinite(values))
        count += bad.size
        if restore_into is not None and bad.size:
            restore_into[start + bad] = values[bad] * layout.slope + layout.intercept
        if values.size < wanted:  # truncated (nifti_is_complete said so already)
            break
        start += wanted
    return count


def _gzip_trailer_size(path: Path) -> int:
    with path.open("rb") as stream:
        stream.seek(-4, 2)
        return int.from_bytes(stream.read(4), "little")


def _gunzipped_size(path: Path) -> int | None:
    """Uncompressed size of the gzip members in the file, or None when a member is cut short.

    Bytes after a complete member that do not start another one are ignored, as gzip(1) does."""
    total = 0
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
    fed = False  # whether the current member has received any bytes
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            fed = True
            while True:
                try:
                    produced = len(decompressor.decompress(chunk, _MAX_OUTPUT))
                except zlib.error:
                    return total if total else None  # trailing garbage after a member, or no gzip at all
                total += produced
                if decompressor.eof:  # a member ended: what follows may be another member
                    chunk = decompressor.unused_data
                    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
                    fed = bool(chunk)
                else:
                    chunk = decompressor.unconsumed_tail
                if not chunk and produced < _MAX_OUTPUT:
                    break
    return None if fed else total
