"""Ultrasound DICOM (Modality US) read as a volume of frames: a cine loop or a sweep, frame after frame.

pydicom decodes the pixels (uncompressed, RLE, JPEG baseline through Pillow; JPEG lossless and JPEG 2000 through
the ``ultrasound`` extra's pylibjpeg plugins). Every frame becomes one grey-level plane of a float32 volume:
colour (RGB, YBR_FULL, YBR_FULL_422, YBR_RCT/ICT after pydicom's conversion to RGB, PALETTE COLOR through its
lookup table) is reduced to its luminance ``Y = 0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601, the Y of DICOM's
YBR_FULL); MONOCHROME1 is inverted. A plane classifier expecting RGB gets the grey replicated by ``infer_planes``.

Geometry: columns along i, rows along j, frames along k. The in-plane spacing comes from the Sequence of
Ultrasound Regions (PhysicalDeltaX/Y of the regions measured in cm, given in mm): all such regions must agree,
else the largest 2D tissue (B-mode) region is used and a note says so; without such a region it is 1 mm and a
warning says the spacing is unknown. The third axis is time, not space: its spacing is FrameTime in ms (1 for a
single frame). The origin is 0 and the direction the identity: an ultrasound image carries no patient
position. ``metadata["third_axis"] == "time"`` marks such a volume; the run refuses to write it (or any image
computed on its grid) as an image file, where it would pass for a physical grid.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from deepinfer._exceptions import InputError

ULTRASOUND: Final = "US"
MAX_FRAMES: Final = 100_000
INSTALL_DECODERS: Final = "pip install 'deepinfer[ultrasound]' (pylibjpeg with its libjpeg and openjpeg plugins)"
LUMINANCE: Final = (0.299, 0.587, 0.114)
"""R, G, B weights of the grey level (ITU-R BT.601 luma, the Y of DICOM's YBR_FULL)."""
_CM: Final = 3  # PhysicalUnitsX/YDirection: 3 = cm
_TISSUE_2D: Final = (1, 1)  # RegionSpatialFormat 1 (2D), RegionDataType 1 (tissue): B-mode
_SPACING_AGREEMENT: Final = 1e-6
_PHOTOMETRIC: Final = (
    "MONOCHROME1",
    "MONOCHROME2",
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_RCT",
    "YBR_ICT",
    "PALETTE COLOR",
)


def _pydicom() -> Any:
    return importlib.import_module("pydicom")


def is_ultrasound(header: Any) -> bool:
    return str(header.get("Modality", "")).strip().upper() == ULTRASOUND


def read_ultrasound(
    source: Path, files: Sequence[Path], root: Path | None, cap: int
) -> tuple[npt.NDArray[np.float32], tuple[float, float, float], dict[str, str]]:
    """The frames of ``files`` (one multi-frame file, or single-frame files in InstanceNumber order) as an
    ``[i, j, k]`` float32 array, its spacing and metadata. ``cap``: the most bytes decoding may ask for."""
    pydicom = _pydicom()
    named = [(path, _name(path, root)) for path in files]
    datasets = []
    for path, name in named:
        try:
            datasets.append(pydicom.dcmread(path))
        except Exception as error:  # pydicom raises many kinds on a broken file
            raise InputError(f"{source}: {name} is a broken DICOM file ({type(error).__name__})") from None
    order = sorted(range(len(datasets)), key=lambda n: (_instance(datasets[n]), str(named[n][0])))
    if len(datasets) > 1 and any(_frame_count(source, named[n][1], datasets[n]) > 1 for n in order):
        raise InputError(
            f"{source}: an ultrasound series of {len(datasets)} files holds a multi-frame file; give one cine "
            "file, or a series of single-frame files"
        )
    first = datasets[order[0]]
    size = (int(first.get("Rows", 0)), int(first.get("Columns", 0)))
    total = sum(_frame_count(source, named[n][1], datasets[n]) for n in order)
    _check_memory(source, named[order[0]][1], first, total, cap)
    planes = []
    for n in order:
        dataset, name = datasets[n], named[n][1]
        if (int(dataset.get("Rows", 0)), int(dataset.get("Columns", 0))) != size:
            raise InputError(f"{source}: ultrasound frames of different sizes ({named[order[0]][1]} and {name})")
        planes.append(frames_of(source, name, dataset))
    stack = np.concatenate(planes, axis=0)  # (frames, rows, columns)
    (dx, dy), note, doubtful = region_spacing(source, named[order[0]][1], first)
    frame_ms = _frame_time(source, named[order[0]][1], first) if stack.shape[0] > 1 else 1.0
    metadata = _metadata(first, stack.shape[0], frame_ms, len(files), note)
    if doubtful:
        metadata["warning"] = f"{source.name}: {note}"  # a run's provenance keeps it: no folder of this machine
    return np.ascontiguousarray(stack.transpose(2, 1, 0)), (dx, dy, frame_ms), metadata


def _name(path: Path, root: Path | None) -> str:
    return str(path.relative_to(root)) if root is not None else path.name


def _instance(dataset: Any) -> int:
    try:
        return int(dataset.get("InstanceNumber", 0) or 0)
    except (TypeError, ValueError):
        return 0


def _frame_count(source: Path, name: str, dataset: Any) -> int:
    text = str(dataset.get("NumberOfFrames", "1") or "1").strip()
    try:
        frames = int(text)
    except ValueError:
        raise InputError(f"{source}: {name} has an unreadable NumberOfFrames ({text!r})") from None
    if not 1 <= frames <= MAX_FRAMES:
        raise InputError(f"{source}: {name} claims {frames} frames (1 to {MAX_FRAMES} are read)")
    return frames


def _check_memory(source: Path, name: str, dataset: Any, frames: int, cap: int) -> None:
    """Refuse, before decoding, frames × size × samples (decoded and as float32) over ``cap``."""
    rows, columns = int(dataset.get("Rows", 0)), int(dataset.get("Columns", 0))
    if rows <= 0 or columns <= 0:
        raise InputError(f"{source}: {name} has no image size (Rows {rows}, Columns {columns})")
    samples = max(3, int(dataset.get("SamplesPerPixel", 1) or 1))
    itemsize = max(1, int(dataset.get("BitsAllocated", 8) or 8) // 8)
    wanted = frames * rows * columns * (samples * itemsize + 4)
    if wanted > cap:
        raise InputError(
            f"{source}: {name} holds {frames} frame(s) of {columns}×{rows}; decoding them needs "
            f"{wanted / 2**30:.1f} GiB, more than the {cap / 2**30:.1f} GiB allowed (DEEPINFER_MAX_IMAGE_BYTES)"
        )


def frames_of(source: Path, name: str, dataset: Any) -> npt.NDArray[np.float32]:
    """The decoded frames of one dataset as grey levels, shape (frames, rows, columns)."""
    photometric = str(dataset.get("PhotometricInterpretation", "")).strip().upper()
    if photometric not in _PHOTOMETRIC:
        raise InputError(f"{source}: {name} has photometric interpretation {photometric or 'none'}; not read")
    _check_decoder(source, name, dataset)
    frames = _frame_count(source, name, dataset)
    _check_pixel_bytes(source, name, dataset, frames)
    try:
        pixels = np.asarray(dataset.pixel_array)
        if photometric == "PALETTE COLOR":
            pixels = np.asarray(_pydicom().pixels.apply_color_lut(pixels, dataset))
    except Exception as error:  # a decoder's own error on damaged data
        raise InputError(f"{source}: {name}: its pixel data cannot be decoded ({_reason(error)})") from None
    colour = photometric not in ("MONOCHROME1", "MONOCHROME2")
    if pixels.ndim == (3 if colour else 2):
        pixels = pixels[None]  # one frame
    if pixels.shape[0] != frames:
        raise InputError(f"{source}: {name}: decoded {pixels.shape[0]} frame(s), its header says {frames}")
    grey = luminance(pixels) if colour else pixels.astype(np.float32)
    if photometric == "MONOCHROME1":
        grey = float(grey.max()) - grey
    return grey


def luminance(rgb: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """The grey level of RGB pixels (last axis R, G, B): :data:`LUMINANCE` weights, in float32 (a frame at a
    time, so a cine never needs a float copy of all its colour samples)."""
    weights = np.asarray(LUMINANCE, dtype=np.float32)
    if rgb.ndim == 3:
        return np.asarray(rgb.astype(np.float32) @ weights, dtype=np.float32)
    grey = np.empty(rgb.shape[:-1], dtype=np.float32)
    for index in range(rgb.shape[0]):
        grey[index] = rgb[index].astype(np.float32) @ weights
    return grey


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


def _check_decoder(source: Path, name: str, dataset: Any) -> None:
    """An unsupported transfer syntax, or a supported one whose decoder is not installed, is one clear error."""
    syntax = dataset.file_meta.get("TransferSyntaxUID") if hasattr(dataset, "file_meta") else None
    if syntax is None:
        raise InputError(f"{source}: {name} has no transfer syntax in its file meta information")
    try:
        decoder = _pydicom().pixels.get_decoder(syntax)
    except NotImplementedError:
        raise InputError(f"{source}: {name}: transfer syntax {syntax} cannot be decoded (not supported)") from None
    if not decoder.is_available:
        raise InputError(
            f"{source}: {name} is compressed as {syntax.name}, and no decoder for it is installed: {INSTALL_DECODERS}"
        )


def _check_pixel_bytes(source: Path, name: str, dataset: Any, frames: int) -> None:
    """Uncompressed pixel data must hold every frame the header announces (a truncated file is refused)."""
    if "PixelData" not in dataset:
        raise InputError(f"{source}: {name} has no pixel data")
    if dataset.file_meta.TransferSyntaxUID.is_compressed:
        return
    bits = int(dataset.get("BitsAllocated", 8) or 8)
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    expected = frames * int(dataset.Rows) * int(dataset.Columns) * samples * bits // 8
    held = len(dataset.PixelData)
    if held < expected:
        raise InputError(
            f"{source}: {name} is truncated: its pixel data holds {held:,} bytes, its header asks for {expected:,} "
            f"({frames} frame(s))"
        )


def region_spacing(source: Path, name: str, dataset: Any) -> tuple[tuple[float, float], str, bool]:
    """(dx, dy) in mm from the Sequence of Ultrasound Regions, a note on where it came from, and whether that
    note is a warning (no region in cm, or regions that disagree)."""
    regions = [r for r in dataset.get("SequenceOfUltrasoundRegions", []) if _in_cm(r)]
    if not regions:
        return (
            (1.0, 1.0),
            (
                "no ultrasound region gives the pixel size in cm (SequenceOfUltrasoundRegions); "
                "the in-plane spacing is taken as 1 mm and is not a physical size"
            ),
            True,
        )
    spacings = [_region_deltas(source, name, index, region) for index, region in enumerate(regions)]
    if all(np.allclose(s, spacings[0], rtol=_SPACING_AGREEMENT, atol=0) for s in spacings):
        return spacings[0], f"in-plane spacing from {len(regions)} ultrasound region(s) in cm", False
    tissue = [n for n, r in enumerate(regions) if _format(r) == _TISSUE_2D]
    if not tissue:
        raise InputError(
            f"{source}: {name}: its ultrasound regions give different pixel sizes and none is a 2D tissue "
            "(B-mode) region; the spacing is ambiguous"
        )
    largest = max(tissue, key=lambda n: _area(regions[n]))
    return (
        spacings[largest],
        (
            f"ultrasound regions give different pixel sizes; the largest 2D tissue (B-mode) region's "
            f"({spacings[largest][0]:.4g}×{spacings[largest][1]:.4g} mm) is used for the whole image"
        ),
        True,
    )


def _in_cm(region: Any) -> bool:
    return bool(region.get("PhysicalUnitsXDirection") == _CM and region.get("PhysicalUnitsYDirection") == _CM)


def _format(region: Any) -> tuple[Any, Any]:
    return region.get("RegionSpatialFormat"), region.get("RegionDataType")


def _area(region: Any) -> int:
    corners = [
        int(region.get(k, 0) or 0)
        for k in ("RegionLocationMinX0", "RegionLocationMinY0", "RegionLocationMaxX1", "RegionLocationMaxY1")
    ]
    return max(0, corners[2] - corners[0]) * max(0, corners[3] - corners[1])


def _region_deltas(source: Path, name: str, index: int, region: Any) -> tuple[float, float]:
    deltas = []
    for keyword in ("PhysicalDeltaX", "PhysicalDeltaY"):
        try:
            value = float(region.get(keyword))
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            raise InputError(
                f"{source}: {name}: ultrasound region {index + 1} gives {keyword} = {region.get(keyword)!r} cm "
                "(must be a positive, finite size)"
            )
        deltas.append(value * 10.0)  # cm → mm
    return deltas[0], deltas[1]


def _frame_time(source: Path, name: str, dataset: Any) -> float:
    """Milliseconds between frames: FrameTime, else 1 (frames counted, not timed)."""
    value = dataset.get("FrameTime")
    if value in (None, ""):
        return 1.0
    try:
        milliseconds = float(value)
    except (TypeError, ValueError):
        milliseconds = math.nan
    if not math.isfinite(milliseconds) or milliseconds <= 0:
        raise InputError(f"{source}: {name} gives FrameTime {value!r} ms (must be positive and finite)")
    return milliseconds


def _metadata(first: Any, frames: int, frame_ms: float, files: int, spacing_note: str) -> dict[str, str]:
    timed = "FrameTime" in first and frames > 1
    axis = f"time, {frame_ms:g} ms a frame" if timed else "frame index (no FrameTime)"
    return {
        "format": "DICOM",
        "dicom_series_uid": str(first.get("SeriesInstanceUID", "")).strip(),
        "dicom_description": str(first.get("SeriesDescription", "")).strip(),
        "dicom_modality": ULTRASOUND,
        "dicom_files": str(files),
        "third_axis": "time",
        "frames": str(frames),
        "frame_time_ms": f"{frame_ms:g}",
        "spacing_note": spacing_note,
        "note": (
            f"ultrasound: {frames} frame(s) stacked along the third axis ({axis}); the grid is not a patient "
            f"position (origin 0, identity direction); {spacing_note}"
        ),
    }
