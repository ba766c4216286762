"""Wheels from PyPI through the ordinary pip client, kept in ``<home>/wheels/`` and never installed.

The only side effect is :class:`PipDownloader` (one method), so unit tests fake it; the default runs
``python -m pip download --no-deps --only-binary=:all: PKG==VER -d DIR`` as an argv list.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from deepinfer._exceptions import FetchError


class PipDownloader(Protocol):
    """Puts the wheel of ``package==version`` (no dependencies) into ``dest``; raises FetchError."""

    def download(self, package: str, version: str, dest: Path) -> None: ...


class SubprocessPipDownloader:
    """Runs pip in a subprocess (argv list, never a shell); index settings come from pip's own config."""

    def __init__(self, python: str = sys.executable, extra_args: Sequence[str] = (), timeout: float = 600) -> None:
        self.python = python
        self.extra_args = tuple(extra_args)
        self.timeout = timeout

    def argv(self, package: str, version: str, dest: Path) -> list[str]:
        return [
            self.python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
            "--disable-pip-version-check", *self.extra_args, "-d", str(dest), "--", f"{package}=={version}",
        ]  # fmt: skip

    def download(self, package: str, version: str, dest: Path) -> None:
        argv = self.argv(package, version, dest)
        try:
            done = subprocess.run(
                argv, capture_output=True, encoding="utf-8", errors="replace", timeout=self.timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise FetchError(f"pip download {package}=={version} failed: {error}") from None
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise FetchError(f"pip download {package}=={version} failed (exit {done.returncode}):\n{tail}")


def canonical_name(package: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", package).lower()


class WheelCache:
    """One folder per ``name-version`` holding exactly the wheel pip chose for this machine."""

    def __init__(self, root: Path, pip: PipDownloader) -> None:
        self.root = root
        self.pip = pip

    def wheel(self, package: str, version: str) -> Path:
        folder = self.root / f"{canonical_name(package)}-{version}"
        cached = self._find(folder)
        if cached is not None:
            return cached
        self.root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=self.root, prefix=".download-"))
        try:
            self.pip.download(package, version, scratch)
            downloaded = self._find(scratch)
            if downloaded is None:
                raise FetchError(f"pip download {package}=={version} produced no wheel")
            folder.mkdir(exist_ok=True)
            target = folder / downloaded.name
            os.replace(downloaded, target)
            return target
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def forget(self, wheel: Path) -> None:
        """Drops a wheel found to be unreadable, so the next fetch downloads it again."""
        wheel.unlink(missing_ok=True)

    @staticmethod
    def _find(folder: Path) -> Path | None:
        wheels = sorted(folder.glob("*.whl")) if folder.is_dir() else []
        return wheels[0] if wheels else None
