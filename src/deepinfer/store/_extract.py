"""Safe extraction of tar (any compression) and zip archives.

Only regular files and folders are written. A member is refused, and the whole extraction with it, when its
name is absolute, holds ``..``, a backslash, a drive or NUL (see :func:`check_relative`), when it is a
symlink, a hard link, a device file, a FIFO or anything else special, when it repeats an earlier name, or
when it (or the archive in total, or the number of members) passes a cap; sizes are counted as bytes are
written, not taken from headers, so a lying header cannot pass the cap (zip bombs). Members are written into
a fresh temporary folder beside the target, which is renamed into place only when every member passed:
on any refusal nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from deepinfer._exceptions import FetchError
from deepinfer.store._paths import check_relative, resolve_inside
from deepinfer.store._transport import read_chunks

_TAR_KINDS = (
    (tarfile.TarInfo.issym, "a symbolic link"),
    (tarfile.TarInfo.islnk, "a hard link"),
    (tarfile.TarInfo.ischr, "a character device"),
    (tarfile.TarInfo.isblk, "a block device"),
    (tarfile.TarInfo.isfifo, "a FIFO"),
)
_ZIP_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


@dataclass(frozen=True)
class ExtractLimits:
    max_members: int = 100_000
    max_member_bytes: int = 8 << 30
    max_total_bytes: int = 16 << 30


@dataclass(frozen=True)
class _Member:
    name: str
    is_dir: bool
    size: int
    open: Callable[[], IO[bytes]]
    refused: str | None = None
    """Why the member's type is refused (a link, a device, ...), or None."""


def extract_archive(archive: Path, target: Path, limits: ExtractLimits | None = None) -> list[Path]:
    """Extract ``archive`` into the new folder ``target``; returns the files written. Raises FetchError."""
    limits = limits or ExtractLimits()
    if target.exists():
        raise FetchError(f"{target} already exists; extraction writes only into a new folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".unpacking-{target.name}-"))
    try:
        with _members(archive) as members:
            written = _write_all(archive, members, scratch, limits)
        os.replace(scratch, target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return [target / path.relative_to(scratch) for path in written]


@contextlib.contextmanager
def _members(archive: Path) -> Iterator[Iterator[_Member]]:
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as opened:
                yield _zip_members(opened)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as tar:
                yield _tar_members(tar)
        else:
            raise FetchError(f"{archive.name}: not a tar or zip archive")
    except (OSError, tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise FetchError(f"{archive.name}: unreadable archive ({error})") from None


def _tar_members(tar: tarfile.TarFile) -> Iterator[_Member]:
    for info in tar:
        refused = next((why for test, why in _TAR_KINDS if test(info)), None)
        if refused is None and not (info.isreg() or info.isdir()):
            refused = "a special member"

        def opener(info: tarfile.TarInfo = info) -> IO[bytes]:
            handle = tar.extractfile(info)
            if handle is None:
                raise FetchError(f"{info.name!r}: no data")
            return handle

        yield _Member(info.name, info.isdir(), info.size, opener, refused)


def _zip_members(archive: zipfile.ZipFile) -> Iterator[_Member]:
    for info in archive.infolist():
        mode = info.external_attr >> 16 if info.create_system == 3 else 0  # 3: made on Unix
        refused = next((why for test, why in _ZIP_KINDS if mode and test(mode)), None)

        def opener(info: zipfile.ZipInfo = info) -> IO[bytes]:
            return archive.open(info)

        yield _Member(info.filename, info.is_dir(), info.file_size, opener, refused)


def _write_all(archive: Path, members: Iterator[_Member], root: Path, limits: ExtractLimits) -> list[Path]:
    written: list[Path] = []
    total = 0
    for count, member in enumerate(members, start=1):
        if count > limits.max_members:
            raise FetchError(f"{archive.name}: more than {limits.max_members} members")
        target = _target(archive, member, root)
        if member.is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        if member.size > limits.max_member_bytes:
            raise _too_big(archive, member, f"{member.size} bytes, over the cap of {limits.max_member_bytes}")
        total += _write_member(archive, member, target, limits, total)
        written.append(target)
    return written


def _target(archive: Path, member: _Member, root: Path) -> Path:
    if member.refused is not None:
        raise FetchError(f"{archive.name}: member {member.name!r} refused: it is {member.refused}")
    name = member.name.rstrip("/") if member.is_dir else member.name
    if member.is_dir and name in ("", "."):
        return root  # the archive's own top folder ("./")
    try:
        check_relative(name)
        return resolve_inside(root, name)
    except ValueError as error:
        raise FetchError(f"{archive.name}: member refused: {error}") from None


def _write_member(archive: Path, member: _Member, target: Path, limits: ExtractLimits, total: int) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        output = target.open("xb")
    except FileExistsError:
        raise FetchError(f"{archive.name}: member {member.name!r} appears twice") from None
    done = 0
    with output, member.open() as source:
        for chunk in read_chunks(source):
            done += len(chunk)
            if done > limits.max_member_bytes:
                raise _too_big(archive, member, f"more than the cap of {limits.max_member_bytes} bytes")
            if total + done > limits.max_total_bytes:
                raise _too_big(archive, member, f"the archive passes the cap of {limits.max_total_bytes} bytes")
            output.write(chunk)
    target.chmod(0o644)
    return done


def _too_big(archive: Path, member: _Member, why: str) -> FetchError:
    return FetchError(f"{archive.name}: member {member.name!r} refused: {why}")
