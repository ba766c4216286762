"""A cohort's cases, from a folder, a glob or a CSV, each with a case id that names its output folder.

Case ids come from file names: the name without its image suffix (``ch2.nii.gz`` → ``ch2``), or the folder's
name for a DICOM series folder; characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_``. Two
inputs with the same id (``a.nii.gz`` and ``a.nrrd``, or one name in two folders of a glob) are refused, naming
both files: rename one, or give the ids in a CSV. A CSV gives them itself, in its ``case_id`` column, with one
column per card input (paths relative to the CSV's folder)."""

from __future__ import annotations

import csv
import glob
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from deepinfer._exceptions import UsageError
from deepinfer.card import ModelCard
from deepinfer.imaging import image_suffix
from deepinfer.run import check_input_names, output_stem

CASE_ID_COLUMN = "case_id"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class Case:
    """One case of a cohort: its id (the name of its output folder) and its input file or folder per card input."""

    case_id: str
    inputs: dict[str, Path]


@dataclass
class Cohort:
    """The cases found, in order, and the files of a folder that were not taken as cases (no image suffix)."""

    cases: list[Case]
    ignored: list[Path] = field(default_factory=list)


def case_id(path: Path) -> str:
    """``ch2.nii.gz`` → ``ch2``; a DICOM folder → its name; unsafe characters → ``_`` (see the module's doc)."""
    name = path.name if path.is_dir() else output_stem(path)
    return _UNSAFE.sub("_", name).lstrip(".") or "_"


def find_cases(card: ModelCard, spec: str, exclude: Path | None = None) -> Cohort:
    """The cases ``spec`` names: a folder (each image file or DICOM series subfolder is a case), a ``.csv``
    file, or a glob (each match is a case). ``exclude``: a folder never taken as a case (the output folder)."""
    path = Path(spec)
    if path.is_dir():
        return _folder_cases(card, path, exclude)
    if path.suffix.lower() == ".csv" and path.is_file():
        return Cohort(_csv_cases(card, path))
    matches = [Path(p) for p in sorted(glob.glob(spec))] if _GLOB_CHARACTERS & set(spec) else [path]
    matches = [p for p in matches if p.exists() and not _inside(p, exclude)]
    if not matches:
        raise UsageError(f"{spec}: no such folder or CSV file, and no file matches it")
    return Cohort(_named_cases(card, matches))


def _inside(path: Path, folder: Path | None) -> bool:
    return folder is not None and path.resolve().is_relative_to(folder.resolve())


def _folder_cases(card: ModelCard, folder: Path, exclude: Path | None) -> Cohort:
    entries = [p for p in sorted(folder.iterdir()) if not p.name.startswith(".") and not _inside(p, exclude)]
    cases = [p for p in entries if (p.is_dir() and any(p.iterdir())) or (p.is_file() and image_suffix(p))]
    if not cases:
        raise UsageError(f"{folder}: no image files (.nii.gz, .nrrd, ...) or DICOM series folders in this folder")
    ignored = [p for p in entries if p.is_file() and not image_suffix(p)]
    return Cohort(_named_cases(card, cases), ignored)


def _single_input(card: ModelCard) -> str:
    if len(card.inputs) != 1:
        names = ", ".join(m.name for m in card.inputs)
        raise UsageError(
            f"{card.id} takes several inputs ({names}); give the cohort as a CSV with a {CASE_ID_COLUMN} column "
            "and one column per input"
        )
    return card.inputs[0].name


def _named_cases(card: ModelCard, paths: Iterable[Path]) -> list[Case]:
    name = _single_input(card)
    seen: dict[str, Path] = {}
    for path in paths:
        identifier = case_id(path)
        if identifier in seen:
            raise UsageError(
                f"{seen[identifier]} and {path} would both be case {identifier!r} (its output folder); rename "
                f"one, or give the cases in a CSV with a {CASE_ID_COLUMN} column"
            )
        seen[identifier] = path
    return [Case(identifier, {name: path}) for identifier, path in seen.items()]


def _csv_cases(card: ModelCard, path: Path) -> list[Case]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
        columns = [c for c in (rows[0].keys() if rows else []) if c != CASE_ID_COLUMN]
    if not rows or CASE_ID_COLUMN not in rows[0]:
        raise UsageError(f"{path}: a cohort CSV needs a header with a {CASE_ID_COLUMN} column and at least one row")
    check_input_names(card, columns)
    cases: dict[str, Case] = {}
    for number, row in enumerate(rows, start=2):
        identifier = (row[CASE_ID_COLUMN] or "").strip()
        if not identifier or _UNSAFE.search(identifier) or identifier.startswith("."):
            raise UsageError(
                f"{path}, line {number}: case id {identifier!r} is not a folder name (use letters, digits, . _ -)"
            )
        if identifier in cases:
            raise UsageError(f"{path}, line {number}: case id {identifier!r} is given twice")
        empty = [c for c in columns if not (row[c] or "").strip()]
        if empty:
            raise UsageError(f"{path}, line {number}: no file given for input {', '.join(empty)}")
        cases[identifier] = Case(identifier, {c: path.parent / row[c].strip() for c in columns})
    return list(cases.values())
