"""DICOM series selection: which series of a folder (or an extracted zip) an input reads, never a guess.

Every file below the folder is read with pydicom, headers only (``stop_before_pixels``); files that are not
DICOM are skipped, as are objects that hold no image series (a DICOMDIR, a structured report). The series found
are grouped by SeriesInstanceUID. A series is chosen by its UID (``--series``) or by the card's
:class:`~deepinfer.card.SeriesRule`; without a rule, a folder must hold exactly one series. No match, or several
matches, is an :class:`InputError` that lists every series (UID, description, modality, slices) and says how to
pick one. The chosen series' slices are then checked for a regular grid (:mod:`deepinfer.imaging._slices`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from deepinfer._exceptions import InputError
from deepinfer.card import SeriesRule

MAX_DICOM_FILES: Final = 100_000
_PLANE_COSINE: Final = float(np.cos(np.radians(30.0)))
"""A slice normal within 30° of a patient axis names the plane (axial, coronal, sagittal); otherwise oblique."""
_PLANES: Final = ("sagittal", "coronal", "axial")  # the normal along L, P, S


@dataclass(frozen=True)
class DicomSeries:
    """One series as its headers describe it; ``headers[i]`` is the pydicom dataset of ``files[i]``."""

    uid: str
    modality: str
    description: str
    protocol: str
    files: tuple[Path, ...]
    headers: tuple[Any, ...]

    @property
    def slices(self) -> int:
        return len(self.files)

    @property
    def image_type(self) -> tuple[str, ...]:
        return tuple(str(value).upper() for value in _values(self.headers[0].get("ImageType")))

    @property
    def plane(self) -> str | None:
        """axial, coronal, sagittal or oblique, from the first slice's ImageOrientationPatient (None: absent)."""
        cosines = [float(v) for v in _values(self.headers[0].get("ImageOrientationPatient"))]
        if len(cosines) != 6:
            return None
        normal = np.abs(np.cross(cosines[:3], cosines[3:]))
        axis = int(np.argmax(normal))
        return _PLANES[axis] if normal[axis] >= _PLANE_COSINE * np.linalg.norm(normal) else "oblique"

    def line(self) -> str:
        """``UID  "description"  MR  120 slices`` for the lists in error messages."""
        description = self.description or self.protocol or "(no description)"
        return f"{self.uid}  {description!r}  {self.modality or '?'}  {self.slices} slice(s)"


def _values(value: Any) -> list[Any]:
    """A DICOM value as a list (a multi-valued element, a single value, or nothing)."""
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]


def _pydicom() -> Any:
    return importlib.import_module("pydicom")


def scan_series(folder: Path, source: Path) -> list[DicomSeries]:
    """Every image series below ``folder``, largest first (``source``: what error messages name)."""
    pydicom = _pydicom()
    groups: dict[str, list[tuple[Path, Any]]] = {}
    for path in _files_below(folder, source):
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except pydicom.errors.InvalidDicomError:
            continue  # not a DICOM file (notes, a thumbnail)
        except Exception as error:  # pydicom raises many kinds on a broken header
            name = path.relative_to(folder)
            raise InputError(f"{source}: {name} is a broken DICOM file ({type(error).__name__})") from None
        uid = str(header.get("SeriesInstanceUID", "")).strip()
        if uid and "Rows" in header:  # an image; a DICOMDIR or an SR has no rows
            groups.setdefault(uid, []).append((path, header))
    series = [
        DicomSeries(
            uid,
            str(items[0][1].get("Modality", "")).strip(),
            str(items[0][1].get("SeriesDescription", "")).strip(),
            str(items[0][1].get("ProtocolName", "")).strip(),
            tuple(path for path, _ in items),
            tuple(header for _, header in items),
        )
        for uid, items in groups.items()
    ]
    return sorted(series, key=lambda s: (-s.slices, s.uid))


def _files_below(folder: Path, source: Path) -> list[Path]:
    """The regular files below ``folder`` (links are not followed), at most :data:`MAX_DICOM_FILES`."""
    found: list[Path] = []
    for root, _folders, names in os.walk(folder):
        for name in sorted(names):
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue
            found.append(path)
            if len(found) > MAX_DICOM_FILES:
                raise InputError(f"{source}: more than {MAX_DICOM_FILES} files; give the folder of one series")
    return sorted(found)


def rule_failures(series: DicomSeries, rule: SeriesRule) -> list[str]:
    """Why ``series`` does not meet ``rule`` (empty: it does)."""
    header = series.headers[0]
    failures = []
    if rule.modality and series.modality.upper() != rule.modality:
        failures.append(f"modality {series.modality or 'none'}, not {rule.modality}")
    if rule.description is not None and not rule.text_matches(rule.description, series.description):
        failures.append(f"description does not match {rule.description!r}")
    if rule.protocol is not None and not rule.text_matches(rule.protocol, series.protocol):
        failures.append(f"protocol {series.protocol!r} does not match {rule.protocol!r}")
    missing = [value for value in rule.image_type_include if value not in series.image_type]
    if missing:
        failures.append(f"image type lacks {'/'.join(missing)}")
    present = [value for value in rule.image_type_exclude if value in series.image_type]
    if present:
        failures.append(f"image type has {'/'.join(present)}")
    if rule.orientation and series.plane != rule.orientation:
        failures.append(f"{series.plane or 'no orientation'}, not {rule.orientation}")
    if rule.min_slices and series.slices < rule.min_slices:
        failures.append(f"{series.slices} slice(s), fewer than {rule.min_slices}")
    absent = [tag for tag in rule.required_tags if str(header.get(tag, "")).strip() == ""]
    if absent:
        failures.append(f"no {', '.join(absent)}")
    return failures


def choose_series(source: Path, found: Sequence[DicomSeries], rule: SeriesRule | None, uid: str | None) -> DicomSeries:
    """The one series to read: the one with ``uid``, else the only one meeting ``rule`` (or the only one)."""
    if not found:
        raise InputError(f"{source}: no DICOM image series in it (a DICOM series folder or zip is expected)")
    if uid is not None:
        chosen = [series for series in found if series.uid == uid]
        if not chosen:
            raise InputError(f"{source}: no DICOM series {uid} in it.\n{_listing(found)}")
        return chosen[0]
    if rule is None:
        if len(found) == 1:
            return found[0]
        raise InputError(
            f"{source}: holds {len(found)} DICOM series and the card gives no rule to choose; "
            f"deepinfer does not guess.\n{_listing(found)}\n{_how_to_pick(found)}"
        )
    matching = [series for series in found if not rule_failures(series, rule)]
    if len(matching) == 1:
        return matching[0]
    if not matching:
        reasons = "\n".join(f"  {s.line()}: {'; '.join(rule_failures(s, rule))}" for s in found)
        raise InputError(
            f"{source}: none of its {len(found)} DICOM series meets the card's rule ({rule.summary()}):\n"
            f"{reasons}\n{_how_to_pick(found)}"
        )
    raise InputError(
        f"{source}: {len(matching)} DICOM series meet the card's rule ({rule.summary()}) equally; "
        f"deepinfer does not guess.\n{_listing(matching)}\n{_how_to_pick(matching)}"
    )


def _listing(found: Sequence[DicomSeries]) -> str:
    return "The series found (UID, description, modality, slices):\n" + "\n".join(f"  {s.line()}" for s in found)


def _how_to_pick(found: Sequence[DicomSeries]) -> str:
    return f"Pick one with --series UID (for example --series {found[0].uid})."
