"""Hostile corpus, part 3: DICOM inputs. Series whose slices break the grid (tilt, duplicate or missing slices,
non-uniform spacing, mixed orientations, multi-frame objects from pydicom's own files), zips that try to leave
their folder, broken headers and folders that hold several series: each refused with an InputError (exit 3).
Ultrasound files (``us-*``, pydicom's own real US file edited) with truncated pixel data, absurd or
memory-busting frame counts, an unknown transfer syntax or zero/negative/NaN region sizes.
Series a DICOM SEG would copy bad UIDs from (path-like, too long) or could not place (no frame of reference) are
refused when the SEG is made (``dicom-seg-*``)."""

from __future__ import annotations

import functools
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from hostile_helpers import Attack, Hostile, hostile, write_zip, zip_symlink

from deepinfer import InputError
from deepinfer.card import Label
from deepinfer.imaging import DicomAlgorithm, read_dicom_source, read_volume, segment_labels, segmentation
from dicom_series import BROKEN_SERIES, UID_ROOT, colin27_block, edit_header, write_series
from ultrasound_files import edited_us, region, with_regions


def read(build: Callable[[Path], Path]) -> Attack:
    def attack(root: Path) -> object:
        return read_volume(build(root))

    return attack


def _zip(members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Callable[[Path], Path]:
    return lambda root: write_zip(root / "study.zip", members)


_LINK = zip_symlink("IM1.dcm", "../outside/victim.bin")


def _not_a_zip(root: Path) -> Path:
    (root / "s.zip").write_bytes(b"PK not really")
    return root / "s.zip"


def _truncated_slice(root: Path) -> Path:
    """A real series whose one slice lost the end of its voxel data (a copy that stopped early)."""
    files = write_series(colin27_block((24, 24, 6)), root / "series", f"{UID_ROOT}.73")
    files[2].write_bytes(files[2].read_bytes()[:-300])
    return root / "series"


def _only_truncated_headers(root: Path) -> Path:
    """Files that start as DICOM but stop inside their header: no image series is found in them."""
    files = write_series(colin27_block((24, 24, 3)), root / "series", f"{UID_ROOT}.74")
    for path in files:
        path.write_bytes(path.read_bytes()[:200])
    return root / "series"


def _two_series(root: Path) -> Path:
    block = colin27_block((16, 16, 6))
    write_series(block, root / "study", f"{UID_ROOT}.71", description="T1", prefix="A")
    write_series(block, root / "study", f"{UID_ROOT}.72", description="T1 repeat", prefix="B")
    return root / "study"


def seg_of(build: Callable[[Path], Path]) -> Attack:
    """Read the series, then make the DICOM SEG of a mask on it (what ``-o result.dcm`` does)."""

    def attack(root: Path) -> object:
        series = build(root)
        volume = read_volume(series)
        source = read_dicom_source(series, volume.metadata["dicom_series_uid"])
        mask = volume.with_array((np.asarray(volume.array) > 0).astype(np.uint8))
        segments, _ = segment_labels(mask, [Label(value=1, name="x", color="#ff0000")])
        return segmentation(mask, source, segments, DicomAlgorithm("evil", "evil", "1.0.0"), "test")

    return attack


def _edited(keyword: str, value: Callable[[int], str | None]) -> Callable[[Path], Path]:
    """A real series with ``keyword`` of slice ``k`` set to ``value(k)`` (None: removed)."""

    def build(root: Path) -> Path:
        files = write_series(colin27_block((16, 16, 4)), root / "series", f"{UID_ROOT}.75")
        for k, path in enumerate(files):
            edit_header(path, functools.partial(_set, keyword=keyword, value=value(k)))
        return root / "series"

    return build


def _set(dataset: Any, keyword: str, value: str | None) -> None:
    if value is None:
        delattr(dataset, keyword)
    else:
        setattr(dataset, keyword, value)


_NOT_A_UID = r"is not a valid DICOM UID; no DICOM SEG is written"


def _short_pixel_data(dataset: Any) -> None:
    dataset.PixelData = dataset.PixelData[: len(dataset.PixelData) // 2]


def _frames(count: str) -> Callable[[Any], None]:
    def change(dataset: Any) -> None:
        dataset.NumberOfFrames = count

    return change


def _huge(dataset: Any) -> None:
    dataset.NumberOfFrames = "90000"
    dataset.Rows = dataset.Columns = 4096


def _cut_file(root: Path) -> Path:
    """A real US file whose copy stopped inside its pixel data."""
    path = edited_us(lambda dataset: None)(root)
    path.write_bytes(path.read_bytes()[:-40_000])
    return path


def _unknown_syntax(root: Path) -> Path:
    """A real US file whose file meta names a transfer syntax no decoder knows (same length: the bytes stay valid)."""
    path = edited_us(lambda dataset: None)(root)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"1.2.840.10008.1.2.1\0", b"1.2.840.10008.1.2.9\0", 1))
    return path


ULTRASOUND_CASES: list[Hostile] = [
    hostile("us-short-pixel-data", read(edited_us(_short_pixel_data)), InputError, r"us\.dcm is truncated"),
    hostile("us-cut-file", read(_cut_file), InputError, r"us\.dcm (is truncated|is a broken DICOM file)"),
    hostile("us-absurd-frames", read(edited_us(_frames("1000000000"))), InputError, "claims 1000000000 frames"),
    hostile("us-negative-frames", read(edited_us(_frames("-3"))), InputError, "claims -3 frames"),
    hostile("us-frames-over-memory-cap", read(edited_us(_huge)), InputError, r"GiB allowed \(DEEPINFER_MAX_IMAGE"),
    hostile("us-unknown-transfer-syntax", read(_unknown_syntax), InputError, "cannot be decoded .not supported."),
    *(
        hostile(f"us-region-{name}", read(edited_us(with_regions(region(value, 0.02)))), InputError, match)
        for name, value, match in (
            ("zero", 0.0, r"region 1 gives PhysicalDeltaX = 0\.0 cm"),
            ("negative", -0.02, r"PhysicalDeltaX = -0\.02 cm .must be a positive"),
            ("nan", float("nan"), "PhysicalDeltaX = nan cm"),
        )
    ),
]

DICOM_CASES: list[Hostile] = [
    *ULTRASOUND_CASES,
    *(hostile(f"dicom-{name}", read(build), InputError, match) for name, (build, match) in BROKEN_SERIES.items()),
    hostile("dicom-zip-dotdot", read(_zip([("../evil.dcm", b"x")])), InputError, r"refused: .*'\.\.'"),
    hostile("dicom-zip-absolute", read(_zip([("/tmp/evil.dcm", b"x")])), InputError, "refused: member refused"),
    hostile("dicom-zip-symlink", read(_zip([_LINK])), InputError, "a symbolic link"),
    hostile("dicom-zip-not-a-zip", read(_not_a_zip), InputError, "not a zip archive"),
    hostile("dicom-truncated-slice", read(_truncated_slice), InputError, r"series .*\.73 \(6 files\) cannot be read"),
    hostile("dicom-truncated-headers", read(_only_truncated_headers), InputError, "no DICOM image series in it"),
    hostile("dicom-two-series-no-rule", read(_two_series), InputError, r"holds 2 DICOM series .* does not guess"),
    hostile(
        "dicom-seg-path-like-frame-of-reference",
        seg_of(_edited("FrameOfReferenceUID", lambda k: "../../outside")),
        InputError,
        "FrameOfReferenceUID '../../outside' " + _NOT_A_UID,
    ),
    hostile(
        "dicom-seg-path-like-instance-uids",
        seg_of(_edited("SOPInstanceUID", lambda k: f"../outside/{k}")),
        InputError,
        "SOPInstanceUID '../outside/0' " + _NOT_A_UID,
    ),
    hostile(
        "dicom-seg-overlong-study-uid",
        seg_of(_edited("StudyInstanceUID", lambda k: "1.2." + "3" * 70)),
        InputError,
        "StudyInstanceUID '1.2.333" + "3" * 57 + "…' " + _NOT_A_UID,
    ),
    hostile(
        "dicom-seg-no-frame-of-reference",
        seg_of(_edited("FrameOfReferenceUID", lambda k: None)),
        InputError,
        "has no Frame of Reference UID; a DICOM SEG cannot be placed in its space",
    ),
]
