"""Detached voxel data: the files a MetaImage or NRRD header points to, found and checked before ITK reads them.

A MetaImage header (``.mha``/``.mhd``) names its voxels with ``ElementDataFile`` (``LOCAL``, one file, ``LIST``
followed by one file per line, or a printf pattern ``name%03d.raw MIN MAX STEP``); an NRRD header (``.nrrd``/
``.nhdr``) with ``data file:`` (or ``datafile:``) in the same three forms. ITK opens whatever is named, so a
header can make the reader read any file the process can open, block on a FIFO, or probe whether a path exists.

:func:`detached_data_files` parses the reference(s) itself and refuses (:class:`InputError` naming the header
and the reference) any that is absolute, leaves the header's folder (``resolve`` + ``is_relative_to``), is a
symbolic link, or is not a regular file; with ``self_contained=True`` (server uploads) any detached data at all.
Every way the reference could be read (the whole value, its first word, each name of a list or a pattern) is
checked, so a reading that differs from ITK's cannot slip past.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from deepinfer._exceptions import InputError

_MAX_HEADER_BYTES = 1 << 20  # a header, list included; the voxels of a .mha/.nrrd follow and are not parsed
_MAX_FILES = 100_000
_PATTERN = re.compile(r"^[^%]*%[0-9]*d[^%]*$")


class _Reference:
    """The header's data reference: the raw value, the names ITK will open, and other readings to vet."""

    def __init__(self, value: str, names: list[str], others: list[str]) -> None:
        self.value = value
        self.names = names
        self.others = others


def detached_data_files(header: Path, kind: str, *, self_contained: bool = False) -> list[Path]:
    """The detached voxel files ``header`` (a MetaImage or NRRD file) reads, after checking each of them.

    ``kind`` is ``"MetaImage"`` or ``"NRRD"`` (other kinds have no detached data: an empty list). The list is
    empty for an image that holds its own voxels."""
    if kind not in {"MetaImage", "NRRD"}:
        return []
    lines, complete = _header_lines(header)
    parse = _metaimage_references if kind == "MetaImage" else _nrrd_references
    references = parse(header, lines, complete)
    if not references:
        return []
    if self_contained:
        raise InputError(
            f"{header}: its header names detached voxel data ({references[0].value!r}); an uploaded image must "
            "hold its own voxels (use .nii.gz, .nii, or a .nrrd/.mha with attached data)"
        )
    folder = header.absolute().parent
    for reference in references:
        for name in [*reference.names, *reference.others]:
            _check_inside(header, folder, name, reference.value)
    files = [folder / name for name in references[0].names]
    for path in files:
        if not path.exists():
            raise InputError(f"{header}: the data file {path.name!r} its header names does not exist")
    return files


def _header_lines(header: Path) -> tuple[list[str], bool]:
    """The text lines of the first MiB of ``header``, and whether that is the whole file."""
    with header.open("rb") as stream:
        head = stream.read(_MAX_HEADER_BYTES + 1)
    complete = len(head) <= _MAX_HEADER_BYTES
    return [raw.decode("latin-1").rstrip("\r") for raw in head[:_MAX_HEADER_BYTES].split(b"\n")], complete


def _too_long(header: Path, what: str) -> InputError:
    return InputError(f"{header}: no end of its header within the first {_MAX_HEADER_BYTES:,} bytes ({what})")


def _metaimage_references(header: Path, lines: list[str], complete: bool) -> list[_Reference]:
    """MetaIO reads key = value lines up to ``ElementDataFile``, the last key."""
    for index, line in enumerate(lines):
        key, sep, value = line.partition("=")
        if not sep or key.strip().lower() != "elementdatafile":
            continue
        value = value.strip()
        return [] if value.lower() == "local" else [_reference(header, value, lines[index + 1 :])]
    if not complete:
        raise _too_long(header, "no ElementDataFile")
    return []


def _nrrd_references(header: Path, lines: list[str], complete: bool) -> list[_Reference]:
    """NRRD fields (``key: value``; ``key:=value`` pairs are not fields) up to a blank line or the end."""
    references: list[_Reference] = []
    for index, line in enumerate(lines):
        if index > 0 and not line.strip():
            return references  # the blank line that ends the header of an attached .nrrd
        match = re.match(r"^([^:#][^:]*):(?!=)(.*)$", line)
        if match is not None and re.sub(r"[\s_]", "", match.group(1)).lower() == "datafile":
            references.append(_reference(header, match.group(2).strip(), lines[index + 1 :]))
    if not complete:
        raise _too_long(header, "no blank line")
    return references


def _reference(header: Path, value: str, following: list[str]) -> _Reference:
    """The names of ``value`` (one file, ``LIST`` + the following lines, or a pattern) and its other readings."""
    if not value:
        raise InputError(f"{header}: its header names an empty data file")
    words = value.split()
    others = [value, words[0]]
    if words[0].upper() == "LIST":
        names = [line.strip() for line in following if line.strip()]
        if not names:
            raise InputError(f"{header}: its header says LIST but names no data file")
        _check_count(header, value, len(names))
        return _Reference(value, names, others[1:] if value == "LIST" else others)
    if "%" in value:
        return _Reference(value, _pattern_names(header, value), [])
    return _Reference(value, [value], others)


def _pattern_names(header: Path, value: str) -> list[str]:
    """``name%03d.raw MIN MAX STEP [DIM]`` → the file names it expands to (a single ``%d``-style field only)."""
    words = value.split()
    try:
        numbers = [int(word) for word in words[1:4]]
    except ValueError:
        numbers = []
    if not _PATTERN.match(words[0]) or len(numbers) != 3 or numbers[2] == 0:
        raise InputError(
            f"{header}: its data file pattern {value!r} is not supported (one %d field, then MIN MAX STEP)"
        )
    first, last, step = numbers
    indices = range(first, last + (1 if step > 0 else -1), step)
    _check_count(header, value, len(indices))
    return [words[0] % index for index in indices]


def _check_count(header: Path, value: str, count: int) -> None:
    if count > _MAX_FILES:
        raise InputError(f"{header}: its data file reference {value!r} names {count:,} files (at most {_MAX_FILES:,})")


def _check_inside(header: Path, folder: Path, name: str, value: str) -> None:
    """``name`` is relative, stays inside ``folder`` and, when it exists, is a regular file, not a link."""
    refused = f"{header}: refused, its header names detached voxel data {value!r}"
    if not name or Path(name).is_absolute():
        raise InputError(f"{refused}: an absolute path (the data file must lie beside the header)")
    candidate = folder / name
    try:
        mode = candidate.lstat().st_mode if candidate.is_symlink() or candidate.exists() else None
        if mode is not None and stat.S_ISLNK(mode):
            raise InputError(f"{refused}: a symbolic link")
        if not candidate.resolve().is_relative_to(folder.resolve()):
            raise InputError(f"{refused}: it leaves the header's folder")
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else "not a usable file name"
        raise InputError(f"{refused}: {reason}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise InputError(f"{refused}: not a regular file (a {_file_kind(mode)})")


def _file_kind(mode: int) -> str:
    kinds = {stat.S_ISDIR: "folder", stat.S_ISFIFO: "FIFO", stat.S_ISCHR: "device", stat.S_ISBLK: "device"}
    return next((name for test, name in kinds.items() if test(mode)), "special file")
