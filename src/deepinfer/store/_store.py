"""The content-addressed artifact cache: ``<home>/artifacts/sha256/<hex>``.

A fetch streams the source into a temporary file in the cache folder, hashing while it copies; only bytes
whose sha256 and size equal the card's are renamed (atomically) to their final name. Anything else raises
:class:`IntegrityError` and leaves nothing behind: a file in the cache is always the artifact its name says.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO

from deepinfer._config import Settings, deepinfer_home
from deepinfer._exceptions import FetchError, IntegrityError
from deepinfer.card._model import Artifact
from deepinfer.store._pip import PipDownloader, SubprocessPipDownloader, WheelCache
from deepinfer.store._sources import (
    ByteStream,
    DebianSourceReader,
    FileSourceReader,
    Source,
    UrlSourceReader,
    WheelSourceReader,
)
from deepinfer.store._transport import CHUNK_SIZE, HttpTransport, UrllibTransport

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(bytes_done, bytes_total)`` while an artifact is copied."""

_PARTIAL_PREFIX = ".partial-"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


class ArtifactStore:
    """Verified, cached artifacts. Every side effect has a seam: ``transport`` (HTTP) and ``pip`` (wheels)."""

    def __init__(
        self,
        home: Path | None = None,
        settings: Settings | None = None,
        *,
        pip: PipDownloader | None = None,
        transport: HttpTransport | None = None,
    ) -> None:
        self.home = home if home is not None else deepinfer_home()
        self.settings = settings if settings is not None else Settings.load(self.home)
        self.root = self.home / "artifacts" / "sha256"
        wheels = WheelCache(self.home / "wheels", pip or SubprocessPipDownloader())
        sources: Iterable[Source] = (
            FileSourceReader(),
            DebianSourceReader(),
            UrlSourceReader(transport or UrllibTransport(), self.settings),
            WheelSourceReader(wheels),
        )
        self._sources: Mapping[str, Source] = {source.kind: source for source in sources}

    def path_for(self, artifact: Artifact) -> Path:
        return self.root / artifact.sha256

    def cached_path(self, artifact: Artifact, *, verify: bool = False) -> Path | None:
        """The cached file when present with the right size (and, with ``verify``, the right sha256)."""
        path = self.path_for(artifact)
        try:
            if path.stat().st_size != artifact.size:
                return None
        except FileNotFoundError:
            return None
        if verify and sha256_file(path) != artifact.sha256:
            return None
        return path

    def fetch(
        self,
        artifact: Artifact,
        base_dir: Path | None = None,
        progress: ProgressCallback | None = None,
        *,
        verify: bool = False,
    ) -> Path:
        """The cached file of ``artifact``, copied from its source and verified first when absent.

        ``base_dir`` is the card's folder, the root of file sources (see ``deepinfer.store._sources``).
        ``verify`` re-hashes a cached file too (and replaces it when it was corrupted on disk).
        """
        cached = self.cached_path(artifact, verify=verify)
        if cached is not None:
            if progress is not None:
                progress(artifact.size, artifact.size)
            return cached
        source = self._sources[artifact.source.kind]
        try:
            with source.open(artifact.source, base_dir) as stream:
                return self._store(artifact, stream, progress)
        except FetchError as error:
            raise FetchError(f"artifact {artifact.name!r}: {error}") from error

    def verify_all(self) -> list[Path]:
        """Cached files whose content no longer matches their name (corrupted on disk)."""
        files = sorted(self.root.iterdir()) if self.root.is_dir() else []
        return [p for p in files if not p.name.startswith(".") and sha256_file(p) != p.name]

    def _store(self, artifact: Artifact, stream: ByteStream, progress: ProgressCallback | None) -> Path:
        if stream.total is not None and stream.total != artifact.size:
            raise IntegrityError(
                f"artifact {artifact.name!r}: the source has {stream.total} bytes, "
                f"the card says {artifact.size}"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=self.root, prefix=_PARTIAL_PREFIX)
        partial = Path(name)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                actual = _copy_hashing(artifact, stream, handle, progress)
            _check(artifact, actual, partial.stat().st_size)
            partial.chmod(0o644)
            os.replace(partial, self.path_for(artifact))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise
        return self.path_for(artifact)


def _copy_hashing(
    artifact: Artifact, stream: ByteStream, handle: IO[bytes], progress: ProgressCallback | None
) -> str:
    digest = hashlib.sha256()
    done = 0
    for chunk in stream.chunks:
        done += len(chunk)
        if done > artifact.size:
            raise IntegrityError(
                f"artifact {artifact.name!r}: the source has more than the card's {artifact.size} bytes"
            )
        digest.update(chunk)
        handle.write(chunk)
        if progress is not None:
            progress(done, artifact.size)
    handle.flush()
    os.fsync(handle.fileno())
    return digest.hexdigest()


def _check(artifact: Artifact, actual_sha256: str, actual_size: int) -> None:
    if actual_size != artifact.size or actual_sha256 != artifact.sha256:
        raise IntegrityError(
            f"artifact {artifact.name!r} failed verification: expected sha256 {artifact.sha256} "
            f"({artifact.size} bytes), got sha256 {actual_sha256} ({actual_size} bytes)"
        )
