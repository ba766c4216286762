"""Class scores written by a model's container (both protocols): read back as the ``class_scores`` output an
in-process pipeline gives, after checking them as hostile input.

For a ``class_scores`` output ``NAME`` the container is given the path ``<out>/NAME.json`` (``{outputs.NAME}``, or
``--NAME`` in the 2017 protocol) and writes there a JSON object::

    {"classes": ["background", "target"],          # required: the card's classes, in the card's order
     "plane": "frames",                            # optional: axial, coronal, sagittal or frames (the default)
     "rule": "max",                                # optional: max (the default), mean or majority
     "planes": [{"index": 0, "scores": [0.9, 0.1]}, {"index": 1, "scores": {"background": 0.2, "target": 0.8}}]}

``index`` is the plane's index along the input's storage axis closest to the plane's normal (the k index for
``frames``), the entries kept in the order given; ``scores`` is one finite number per class, as a list in class
order or an object keyed by class name.
The scores JSON that ``deepinfer run`` itself writes is also accepted (what an image made by ``deepinfer package
build`` writes). Instead of the JSON the container may write ``<out>/NAME.csv``: a header ``index`` then the class
names (``x_mm,y_mm,z_mm`` between them are allowed and ignored), one row per frame.

Refused, with a :class:`ContainerError`: a missing file, a link or other non-regular file, more than
:data:`MAX_SCORES_BYTES`, text that is not UTF-8 JSON (or CSV), NaN or infinite values, other classes than the
card's, an index outside the input or given twice, and no planes at all.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from deepinfer._exceptions import ContainerError
from deepinfer.card import ClassScoresMember
from deepinfer.imaging import Geometry
from deepinfer.pipeline import PLANES, ClassScores

MAX_SCORES_BYTES = 8 << 20
SCORES_SUFFIX = ".json"
CSV_SUFFIX = ".csv"
RULES = ("max", "mean", "majority")
_NORMALS = {"axial": (0.0, 0.0, 1.0), "coronal": (0.0, 1.0, 0.0), "sagittal": (1.0, 0.0, 0.0)}
_POSITION_COLUMNS = ["x_mm", "y_mm", "z_mm"]
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class _Refused(ValueError):
    """What is wrong with the container's scores (the caller names the model and the file)."""


def read_container_scores(ref: str, member: ClassScoresMember, folder: Path, reference: Geometry) -> ClassScores:
    """The class scores the container wrote for ``member`` in ``folder`` (``NAME.json``, else ``NAME.csv``),
    placed on the input's grid ``reference``."""
    json_path, csv_path = folder / f"{member.name}{SCORES_SUFFIX}", folder / f"{member.name}{CSV_SUFFIX}"
    path = json_path if os.path.lexists(json_path) or not os.path.lexists(csv_path) else csv_path
    try:
        text = _read_text(path)
        if path.suffix == CSV_SUFFIX:
            plane, rule, rows = "frames", "max", _csv_rows(text, member.classes)
        else:
            plane, rule, rows = _json_rows(text, member.classes)
        return _scores(plane, rule, rows, reference)
    except FileNotFoundError:
        raise ContainerError(
            f"{ref}: the container finished but wrote no class scores {member.name} ({json_path.name} or "
            f"{csv_path.name})"
        ) from None
    except _Refused as problem:
        raise ContainerError(f"{ref}: the container's class scores {path.name} are refused: {problem}") from None


def _read_text(path: Path) -> str:
    """The file's text: a regular file (not a link) of at most :data:`MAX_SCORES_BYTES`, UTF-8."""
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):
        raise _Refused("not a regular file (a link?)")
    if info.st_size > MAX_SCORES_BYTES:
        raise _Refused(f"{info.st_size} bytes, more than the {MAX_SCORES_BYTES} allowed")
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(descriptor, "rb") as handle:
        data = handle.read(MAX_SCORES_BYTES + 1)
    if len(data) > MAX_SCORES_BYTES:
        raise _Refused(f"more than the {MAX_SCORES_BYTES} bytes allowed")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused("not UTF-8 text") from None


def _no_constants(name: str) -> float:
    raise _Refused(f"{name} is not a finite number")


def _json_rows(text: str, classes: list[str]) -> tuple[str, str, list[tuple[int, list[float]]]]:
    try:
        document = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as error:
        if isinstance(error, _Refused):
            raise
        raise _Refused(f"not JSON ({type(error).__name__})") from None
    if not isinstance(document, dict):
        raise _Refused("not a JSON object with 'classes' and 'planes'")
    if document.get("classes") != classes:
        raise _Refused(f"its classes are not the card's {classes} (in that order)")
    plane = document.get("plane", "frames")
    decision = document.get("decision")
    rule = document.get("rule", decision.get("rule", "max") if isinstance(decision, dict) else "max")
    if plane not in PLANES:
        raise _Refused(f"plane must be one of {', '.join(PLANES)}")
    if rule not in RULES:
        raise _Refused(f"rule must be one of {', '.join(RULES)}")
    entries = document.get("planes")
    if not isinstance(entries, list) or not entries:
        raise _Refused("'planes' must be a non-empty list")
    rows = []
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise _Refused(f"planes[{number}] is not an object with 'index' and 'scores'")
        rows.append((_index(entry.get("index"), number), _values(entry.get("scores"), classes, number)))
    return str(plane), str(rule), rows


def _index(value: Any, number: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Refused(f"planes[{number}].index must be a whole number")
    return value


def _values(value: Any, classes: list[str], number: int) -> list[float]:
    if isinstance(value, dict):
        if sorted(value) != sorted(classes):
            raise _Refused(f"planes[{number}].scores names other classes than the card's")
        value = [value[name] for name in classes]
    if not isinstance(value, list) or len(value) != len(classes):
        raise _Refused(f"planes[{number}].scores must hold {len(classes)} numbers, one per class")
    for score in value:
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            raise _Refused(f"planes[{number}].scores holds {str(score)[:20]!r}, not a finite number")
    if any(abs(score) > _FLOAT32_MAX for score in value):
        raise _Refused(f"planes[{number}].scores holds a score too large for single precision")
    return [float(score) for score in value]


def _csv_rows(text: str, classes: list[str]) -> list[tuple[int, list[float]]]:
    table = list(csv.reader(io.StringIO(text)))
    if not table:
        raise _Refused("an empty CSV file")
    header = [cell.strip() for cell in table[0]]
    skipped = 4 if header[:4] == ["index", *_POSITION_COLUMNS] else 1
    if header[:1] != ["index"] or header[skipped:] != classes:
        raise _Refused(f"the CSV header must be index, then the card's classes {classes}")
    rows: list[tuple[int, list[float]]] = []
    for number, cells in enumerate(table[1:]):
        if len(cells) != len(header):
            raise _Refused(f"CSV row {number + 2} has {len(cells)} cells, not {len(header)}")
        try:
            index, values = int(cells[0]), [float(cell) for cell in cells[skipped:]]
        except ValueError:
            raise _Refused(f"CSV row {number + 2} holds something that is not a number") from None
        rows.append((index, _values(values, classes, number)))
    if not rows:
        raise _Refused("the CSV file has no rows")
    return rows


def plane_axis(plane: str, geometry: Geometry) -> int:
    """The storage axis of ``geometry`` closest to the normal of ``plane`` (k for ``frames``)."""
    if plane == "frames":
        return 2
    normal = np.asarray(_NORMALS[plane])
    return int(np.argmax(np.abs(geometry.direction_matrix.T @ normal)))


def _scores(plane: str, rule: str, rows: list[tuple[int, list[float]]], reference: Geometry) -> ClassScores:
    axis = plane_axis(plane, reference)
    count = reference.size[axis]
    indices = [index for index, _ in rows]
    if len(set(indices)) != len(indices):
        raise _Refused("a plane index is given twice")
    if not all(0 <= index < count for index in indices):
        raise _Refused(f"a plane index is outside the input's {count} planes ({plane}: 0 to {count - 1})")
    centre = np.array([[(n - 1) / 2 for n in reference.size] for _ in rows], dtype=np.float64)
    centre[:, axis] = [index for index, _ in rows]
    points = (reference.index_to_physical @ np.hstack([centre, np.ones((len(rows), 1))]).T)[:3].T
    values = np.asarray([scores for _, scores in rows], dtype=np.float32)
    return ClassScores.decided(plane, axis, tuple(index for index, _ in rows), points, values, rule)
