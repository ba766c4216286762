"""Containment checks for paths that come from outside (cards, archives, indexes).

Both helpers raise :class:`ValueError` with a short reason; callers turn it into the error their context
needs (a fetch error for an artifact, a card error for a registry entry).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath


def check_relative(name: str) -> PurePosixPath:
    """A ``/``-separated relative path with no ``..``, backslash or drive; refuses anything else."""
    if not name or "\\" in name or "\x00" in name:
        raise ValueError(f"{name!r} is not a plain relative path")
    pure = PurePosixPath(name)
    if pure.is_absolute() or ":" in pure.parts[0]:
        raise ValueError(f"{name!r} is absolute; only paths relative to the folder are allowed")
    if ".." in pure.parts:
        raise ValueError(f"{name!r} contains '..'")
    return pure


def resolve_inside(root: Path, name: str) -> Path:
    """``root / name`` resolved, refusing escapes from ``root`` and symlinks anywhere below it."""
    pure = check_relative(name)
    root = root.resolve()
    current = root
    for part in pure.parts:
        current = current / part
        if current.is_symlink():
            raise ValueError(f"{name!r}: symlinks are refused ({part!r} is one)")
    resolved = current.resolve()
    if not resolved.is_relative_to(root):
        raise ValueError(f"{name!r} leaves its folder")
    return resolved
