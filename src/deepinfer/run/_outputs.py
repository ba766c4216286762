"""A run's output files, all or nothing: every file is written into a staging folder beside its target first, and
only when all of them are written are they renamed into place.

A rerun that fails (a full disk while writing the PNG, a bad value) leaves the previous run's outputs as they were
and no temporary file behind. A staging folder is a hidden ``.deepinfer-staging-*`` folder in each target's folder
(a rename within one file system cannot fail for lack of space). A detached data file (``.raw`` beside a
``.nhdr``) is renamed before its header, the images before their provenance, statistics and picture.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from deepinfer._exceptions import DeepInferError
from deepinfer.imaging import SUPPORTED_SUFFIXES, Volume, write_volume


def write_bytes(path: Path, data: bytes) -> None:
    """The seam every non-image output goes through (tests make it fail as a full disk would)."""
    with path.open("xb") as stream:
        stream.write(data)


def storage_error(path: Path, error: OSError) -> DeepInferError:
    """A clear message for a failed write: the path and the reason (a full disk said as such)."""
    if error.errno == errno.ENOSPC:
        return DeepInferError(f"{path}: cannot write the file: no space left on the device")
    return DeepInferError(f"{path}: cannot write the file ({error.strerror or type(error).__name__})")


def _commit_order(item: Path) -> int:
    name = item.name.lower()
    if name.endswith((".json", ".csv", ".png")):
        return 2
    return 1 if name.endswith(SUPPORTED_SUFFIXES) else 0


class StagedOutputs:
    """Stage files with :meth:`volume`, :meth:`json`, :meth:`text` and :meth:`path`; :meth:`commit` renames them
    all into place.

    Used as a context manager: leaving it without a commit (an error) removes everything staged."""

    def __init__(self) -> None:
        self._staging: dict[Path, Path] = {}

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.discard()

    def path(self, target: Path) -> Path:
        """Where to write the file that :meth:`commit` moves to ``target``."""
        folder = target.parent
        if folder not in self._staging:
            try:
                self._staging[folder] = Path(tempfile.mkdtemp(prefix=".deepinfer-staging-", dir=folder))
            except OSError as error:
                raise storage_error(target, error) from None
        return self._staging[folder] / target.name

    def volume(self, volume: Volume, target: Path) -> None:
        try:
            write_volume(volume, self.path(target))
        except DeepInferError as error:
            raise DeepInferError(str(error).replace(str(self.path(target)), str(target))) from None

    def json(self, document: Mapping[str, Any], target: Path) -> None:
        try:
            write_bytes(self.path(target), (json.dumps(document, indent=2) + "\n").encode("utf-8"))
        except OSError as error:
            raise storage_error(target, error) from None

    def text(self, content: str, target: Path) -> None:
        try:
            write_bytes(self.path(target), content.encode("utf-8"))
        except OSError as error:
            raise storage_error(target, error) from None

    def commit(self) -> None:
        """Rename every staged file into its target folder, then remove the staging folders."""
        for folder, staging in self._staging.items():
            for item in sorted(staging.iterdir(), key=_commit_order):
                try:
                    os.replace(item, folder / item.name)
                except OSError as error:
                    raise storage_error(folder / item.name, error) from None
        self.discard()

    def discard(self) -> None:
        for staging in self._staging.values():
            shutil.rmtree(staging, ignore_errors=True)
        self._staging.clear()
