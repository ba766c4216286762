"""Containment checks for paths that come from outside (cards, archives, indexes).

The helpers raise :class:`ValueError` with a short reason; callers turn it into the error their context
needs (a fetch error for an artifact, a card error for a registry entry).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

_URL_SEGMENT = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]*")


def check_relative(name: str) -> PurePosixPath:
    """A ``/``-separated relative path with no ``..``, backslash or drive; refuses anything else."""
    if not name or "\\" in name or "\x00" in name:
        raise ValueError(f"{name!r} is not a plain relative path")
    pure = PurePosixPath(name)
    if not pure.parts:
        raise ValueError(f"{name!r} names no file")
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


def check_url_path(name: str) -> str:
    """A relative URL path made only of unreserved characters (``A-Z a-z 0-9 . _ ~ -``) and ``/``.

    Percent signs, query strings, fragments, backslashes, empty, ``.`` and ``..`` segments, and segments
    starting with a dot are all refused, so no decoding step (single or double) can turn the path into an
    escape from the folder it is relative to."""
    segments = name.split("/")
    if not all(_URL_SEGMENT.fullmatch(segment) for segment in segments):
        raise ValueError(
            f"{name!r} is not a plain relative URL path (letters, digits, '.', '_', '~', '-' and '/' only; "
            "no empty, '.' or '..' segments and no segment starting with '.')"
        )
    return name
