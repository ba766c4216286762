"""The slices of one DICOM series in order, refused when they do not make one regular 3D grid.

A volume has one origin, one direction and one spacing: its slices must share one orientation and size, lie one
after another along the slice normal (no gantry tilt: each step is along the normal), at distinct positions, one
step apart. Whatever breaks that is refused, never repaired by a guess: a multi-frame (enhanced) object, mixed
orientations or sizes, gantry tilt, duplicate positions, missing slices, non-uniform spacing. Positions are
compared within :func:`tolerance` (DICOM positions are decimal strings and scanners round them).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from deepinfer._exceptions import InputError
from deepinfer.imaging._series import DicomSeries

_ORIENTATION_TOLERANCE: Final = 1e-4
_RELATIVE_TOLERANCE: Final = 0.01
_ABSOLUTE_TOLERANCE: Final = 0.01  # mm


def tolerance(step: float) -> float:
    """How far a slice position may stray: 1 % of the slice step, at least 0.01 mm."""
    return max(_ABSOLUTE_TOLERANCE, _RELATIVE_TOLERANCE * step)


def _floats(header: Any, keyword: str, count: int) -> npt.NDArray[np.float64] | None:
    value = header.get(keyword)
    try:
        numbers = np.asarray([float(v) for v in value], dtype=np.float64) if value is not None else None
    except (TypeError, ValueError):
        return None
    return numbers if numbers is not None and numbers.size == count and np.all(np.isfinite(numbers)) else None


def ordered_slices(source: Path, root: Path, series: DicomSeries) -> list[Path]:
    """The series' files sorted along the slice normal, after checking they form one regular grid."""

    def name(index: int) -> str:
        return str(series.files[index].relative_to(root))

    where = f"{source}: DICOM series {series.uid}"
    for index, header in enumerate(series.headers):
        frames = str(header.get("NumberOfFrames", "1")).strip() or "1"
        if frames != "1" or "PerFrameFunctionalGroupsSequence" in header:
            raise InputError(
                f"{where}: {name(index)} is a multi-frame (enhanced) DICOM object ({frames} frame(s)); only "
                "series of single-frame slices are read (convert it to classic slices first)"
            )
        tilt = header.get("GantryDetectorTilt")
        if tilt not in (None, "") and abs(float(tilt)) > 0:
            raise InputError(f"{where}: acquired with a gantry tilt of {float(tilt)}° ({name(index)}); not read")
    orientation = _floats(series.headers[0], "ImageOrientationPatient", 6)
    if orientation is None:
        raise InputError(f"{where}: {name(0)} has no usable ImageOrientationPatient")
    size = (series.headers[0].get("Rows"), series.headers[0].get("Columns"))
    positions = []
    for index, header in enumerate(series.headers):
        this = _floats(header, "ImageOrientationPatient", 6)
        if this is None or np.max(np.abs(this - orientation)) > _ORIENTATION_TOLERANCE:
            raise InputError(
                f"{where}: mixed slice orientations ({name(0)} and {name(index)} differ); one volume needs one"
            )
        if (header.get("Rows"), header.get("Columns")) != size:
            raise InputError(f"{where}: slices of different sizes ({name(0)} and {name(index)})")
        position = _floats(header, "ImagePositionPatient", 3)
        if position is None:
            raise InputError(f"{where}: {name(index)} has no usable ImagePositionPatient")
        positions.append(position)
    normal = np.cross(orientation[:3], orientation[3:])
    along = np.asarray([float(p @ normal) for p in positions])
    order = [int(i) for i in np.argsort(along, kind="stable")]
    if len(order) > 1:
        _check_steps(where, [positions[i] for i in order], normal, [name(i) for i in order])
    return [series.files[i] for i in order]


def _check_steps(
    where: str, positions: list[npt.NDArray[np.float64]], normal: npt.NDArray[np.float64], names: list[str]
) -> None:
    """Distinct positions, each step along the normal (no tilt), all steps equal (no gap, uniform)."""
    steps = np.diff(np.asarray(positions), axis=0)
    gaps = steps @ normal
    step = float(np.median(gaps))
    allowed = tolerance(step)
    for k, gap in enumerate(gaps):
        if gap <= allowed:
            raise InputError(
                f"{where}: two slices at the same position ({names[k]} and {names[k + 1]}, "
                f"{float(gap):.4f} mm apart); one volume needs distinct slice positions"
            )
    sideways = np.linalg.norm(steps - gaps[:, None] * normal[None, :], axis=1)
    worst = int(np.argmax(sideways))
    if sideways[worst] > allowed:
        angle = math.degrees(math.atan2(float(sideways[worst]), float(gaps[worst])))
        raise InputError(
            f"{where}: the slices are sheared (gantry tilt of about {angle:.1f}° between {names[worst]} and "
            f"{names[worst + 1]}); a tilted acquisition is not a regular grid, and deepinfer does not resample it"
        )
    for k, gap in enumerate(gaps):
        if abs(gap - step) <= allowed:
            continue
        between = f"between {names[k]} and {names[k + 1]}"
        multiple = round(float(gap) / step)
        if multiple >= 2 and abs(gap - multiple * step) <= allowed:
            raise InputError(
                f"{where}: {multiple - 1} slice(s) missing {between} ({float(gap):.4f} mm apart, "
                f"the series' step is {step:.4f} mm)"
            )
        raise InputError(f"{where}: non-uniform slice spacing: {float(gap):.4f} mm {between}, {step:.4f} mm elsewhere")
