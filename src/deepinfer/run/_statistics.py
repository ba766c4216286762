"""Per-label statistics of a labelmap output, written beside it as ``STEM.statistics.json`` and ``.csv``.

For each label of the card's label table (and any other nonzero value the labelmap holds), on the labelmap's own
grid: the voxel count, the volume in mL (count × voxel volume), the mean, standard deviation (population, ddof 0),
minimum and maximum of the input's intensities inside, the bounding box as voxel indices (inclusive) and as the
LPS millimetre extent of those voxel centres, and whether the label touches the image border (a voxel on the
first or last index of any axis: the structure may continue outside the image). Value 0 is the background and
gets no row. A label with no voxel has a count of 0 and null statistics. Intensities come from the input the
labelmap was computed on, which has the same grid (outputs keep the input's geometry); on another grid (which
would be a bug) the intensity columns are null.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from deepinfer.card import Label, LabelmapMember, ModelCard
from deepinfer.imaging import Geometry, Volume
from deepinfer.run._outputs import StagedOutputs
from deepinfer.run._plan import output_stem

CSV_COLUMNS = (
    "value", "name", "voxels", "volume_ml", "mean", "sd", "min", "max",
    "i_min", "j_min", "k_min", "i_max", "j_max", "k_max",
    "x_min_mm", "y_min_mm", "z_min_mm", "x_max_mm", "y_max_mm", "z_max_mm", "touches_border",
)  # fmt: skip


FEW_LABELS = 16  # up to this many labels, bounding boxes by one pass per label (see label_boxes)


def statistics_paths(output: Path) -> tuple[Path, Path]:
    """``STEM.statistics.json`` and ``STEM.statistics.csv`` beside ``output``."""
    stem = output_stem(output)
    return output.with_name(f"{stem}.statistics.json"), output.with_name(f"{stem}.statistics.csv")


def label_statistics(labelmap: Volume, intensity: Volume | None, labels: Sequence[Label]) -> list[dict[str, Any]]:
    """One row per label (the table's order, then values the table lacks), as described in the module."""
    array = np.asarray(labelmap.array)
    if array.dtype.kind not in "iu":
        array = array.astype(np.int64)
    same_grid = intensity is not None and intensity.geometry.same_as(labelmap.geometry)
    values = intensity.array.astype(np.float64) if same_grid and intensity is not None else None
    present = [int(v) for v in np.unique(array) if v > 0]
    names = {label.value: label.name for label in labels}
    wanted = [label.value for label in labels if label.value > 0]
    wanted += [value for value in present if value not in names]
    boxes = label_boxes(array, [value for value in wanted if value in present])
    return [
        _row(value, names.get(value, f"label {value}"), array, values, boxes.get(value), labelmap.geometry)
        for value in wanted
    ]


def label_boxes(
    array: npt.NDArray[Any], values: Sequence[int], few: int = FEW_LABELS
) -> dict[int, tuple[slice, ...] | None]:
    """The bounding box (slices) of each positive value of ``values`` in ``array``, None where it is absent.

    Up to ``few`` values: a pass over the array per value (a brain mask's box takes a few tens of milliseconds),
    which spares the import of ``scipy.ndimage`` (about 0.3 s, paid by every run and batch worker); more values:
    ``scipy.ndimage.find_objects``, one pass for all."""
    positive = [value for value in values if value > 0]
    if len(positive) <= few:
        return {value: _box(array == value) for value in positive}
    from scipy import ndimage  # (imported when a labelmap is measured: importing deepinfer.run stays lean)

    found = ndimage.find_objects(np.where(array > 0, array, 0))
    return {value: found[value - 1] if value - 1 < len(found) else None for value in positive}


def _box(inside: npt.NDArray[np.bool_]) -> tuple[slice, ...] | None:
    box = []
    for axis in range(inside.ndim):
        hits = np.flatnonzero(inside.any(axis=tuple(other for other in range(inside.ndim) if other != axis)))
        if hits.size == 0:
            return None
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)


def _row(
    value: int,
    name: str,
    array: npt.NDArray[Any],
    intensity: npt.NDArray[np.float64] | None,
    box: tuple[slice, ...] | None,
    geometry: Geometry,
) -> dict[str, Any]:
    row: dict[str, Any] = {"value": value, "name": name, "voxels": 0, "volume_ml": 0.0}
    row |= {"mean": None, "sd": None, "min": None, "max": None, "bbox_index": None, "bbox_lps_mm": None}
    row["touches_border"] = False
    if box is None:
        return row
    inside = array[box] == value
    count = int(np.count_nonzero(inside))
    if count == 0:
        return row
    row["voxels"] = count
    row["volume_ml"] = count * geometry.voxel_volume_mm3 / 1000.0
    if intensity is not None:
        found = intensity[box][inside]
        row |= {"mean": float(found.mean()), "sd": float(found.std()), "min": float(found.min())}
        row["max"] = float(found.max())
    low = [s.start for s in box]
    high = [s.stop - 1 for s in box]
    row["bbox_index"] = {"min": low, "max": high}
    corners = np.array([[c[0], c[1], c[2], 1.0] for c in _corners(low, high)]).T
    points = (geometry.index_to_physical @ corners)[:3]
    row["bbox_lps_mm"] = {"min": points.min(axis=1).tolist(), "max": points.max(axis=1).tolist()}
    row["touches_border"] = any(lo == 0 for lo in low) or any(
        hi == n - 1 for hi, n in zip(high, geometry.size, strict=True)
    )
    return row


def _corners(low: Sequence[int], high: Sequence[int]) -> list[tuple[int, int, int]]:
    return [(i, j, k) for i in (low[0], high[0]) for j in (low[1], high[1]) for k in (low[2], high[2])]


def output_statistics(
    card: ModelCard, results: Mapping[str, Volume], volumes_in: Mapping[str, Volume], outputs: Mapping[str, Path]
) -> dict[str, list[dict[str, Any]]]:
    """Statistics of every labelmap output written (output name → rows), intensities from the first input."""
    first = volumes_in.get(card.inputs[0].name)
    return {
        member.name: label_statistics(results[member.name], first, member.labels)
        for member in card.outputs
        if isinstance(member, LabelmapMember) and member.name in results and member.name in outputs
    }


def stage_statistics(
    staged: StagedOutputs, name: str, output: Path, intensity_input: str, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Stage ``STEM.statistics.json`` (which output and input the rows describe, and the rows) and ``.csv``."""
    as_json, as_csv = statistics_paths(output)
    document = {"output": {"name": name, "file": output.name}, "intensity_input": intensity_input, "labels": rows}
    staged.json(document, as_json)
    staged.text(statistics_csv(rows), as_csv)


def statistics_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as CSV (one column per number; an empty cell for a null)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        index = row["bbox_index"] or {"min": [None] * 3, "max": [None] * 3}
        mm = row["bbox_lps_mm"] or {"min": [None] * 3, "max": [None] * 3}
        cells = [row[key] for key in CSV_COLUMNS[:8]] + index["min"] + index["max"] + mm["min"] + mm["max"]
        writer.writerow(["" if cell is None else cell for cell in [*cells, str(row["touches_border"]).lower()]])
    return text.getvalue()
