"""Looking after the artifact cache: what it holds, what does not belong there, and pruning.

An entry is a regular file named by a lowercase sha256. Anything else in the folder is a stray: partial
downloads (``.partial-<hex>-*``), symlinks, folders, other names. A partial download whose sha256 lock is
held belongs to a running fetch and is left alone.
"""

from __future__ import annotations

import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deepinfer.store._lock import lock_if_free

_SHA256 = re.compile(r"[0-9a-f]{64}")
_PARTIAL = re.compile(r"\.partial-([0-9a-f]{64})-")
_UNPACKING = re.compile(r"\.unpacking-([0-9a-f]{64})-")


@dataclass(frozen=True)
class CacheEntry:
    sha256: str
    path: Path
    size: int
    modified: float
    """Seconds since the epoch (when the artifact entered the cache)."""


@dataclass
class CacheScan:
    entries: list[CacheEntry] = field(default_factory=list)
    strays: list[Path] = field(default_factory=list)


def scan_cache(root: Path) -> CacheScan:
    """The entries and strays of ``root`` (never following a symlink)."""
    found = CacheScan()
    paths = sorted(root.iterdir()) if root.is_dir() else []
    for path in paths:
        info = path.lstat()
        if stat.S_ISREG(info.st_mode) and _SHA256.fullmatch(path.name):
            found.entries.append(CacheEntry(path.name, path, info.st_size, info.st_mtime))
        else:
            found.strays.append(path)
    return found


def prune_cache(
    root: Path,
    unpacked_root: Path,
    lock_path: Callable[[str], Path],
    keep: set[str] | None,
    *,
    dry_run: bool = False,
) -> list[Path]:
    """Remove strays not in use, and the entries (and their unpacked folders) whose sha256 is not in ``keep``."""
    scan = scan_cache(root)
    doomed = [path for path in scan.strays if not _in_use(path, _PARTIAL, lock_path)]
    if keep is not None:
        doomed += [entry.path for entry in scan.entries if entry.sha256 not in keep]
    unpacked = sorted(unpacked_root.iterdir()) if unpacked_root.is_dir() else []
    for folder in unpacked:
        if _in_use(folder, _UNPACKING, lock_path):
            continue
        if not _SHA256.fullmatch(folder.name) or (keep is not None and folder.name not in keep):
            doomed.append(folder)
    if not dry_run:
        for path in doomed:
            remove_path(path)
    return doomed


def _in_use(path: Path, pattern: re.Pattern[str], lock_path: Callable[[str], Path]) -> bool:
    """Whether ``path`` is the temporary file or folder of a fetch that still holds its lock."""
    match = pattern.match(path.name)
    if match is None:
        return False
    with lock_if_free(lock_path(match.group(1))) as free:
        return not free


def remove_path(path: Path) -> None:
    """Delete a file, a symlink (never what it points to) or a folder tree; nothing if it is gone."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
