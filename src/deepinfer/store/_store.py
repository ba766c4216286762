"""The content-addressed artifact cache: ``<home>/artifacts/sha256/<hex>``.

A fetch streams the source into a temporary file in the cache folder, hashing while it copies; only bytes
whose sha256 and size equal the card's are renamed (atomically) to their final name. Anything else raises
:class:`IntegrityError` and leaves nothing behind: a file in the cache is always the artifact its name says.

Processes sharing a cache take a lock per sha256 (``<home>/artifacts/locks/<hex>.lock``) around a fetch, so
one downloads and the others then find the verified file. A process killed mid-download leaves only a
``.partial-<hex>-*`` file, which is never used and which the next fetch of that artifact (or
``prune``) removes. A cache entry that is not a regular file (a symlink planted in the cache) is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO

from deepinfer._config import Settings, deepinfer_home
from deepinfer._exceptions import FetchError, IntegrityError
from deepinfer.card import Artifact
from deepinfer.store._cache import CacheEntry, prune_cache, scan_cache
from deepinfer.store._extract import ExtractLimits, extract_archive
from deepinfer.store._lock import exclusive_lock
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

ByteProgress = Callable[[int, int], None]
"""Called with (bytes done, bytes in all) while an artifact is fetched (not the pipeline's (task, done, total))."""
"""Called as ``progress(bytes_done, bytes_total)`` while an artifact is copied."""

PARTIAL_PREFIX = ".partial-"


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
        self.locks = self.home / "artifacts" / "locks"
        self.unpacked_root = self.home / "artifacts" / "unpacked"
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
        """The cached file when present with the right size (and, with ``verify``, the right sha256).

        Raises :class:`IntegrityError` when the entry exists but is not a regular file (e.g. a symlink)."""
        path = self.path_for(artifact)
        try:
            info = path.lstat()
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(info.st_mode):
            kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
            raise IntegrityError(
                f"artifact {artifact.name!r}: the cache entry {path} is {kind}; refused "
                "(deepinfer cache prune removes it)"
            )
        if info.st_size != artifact.size:
            return None
        if verify and sha256_file(path) != artifact.sha256:
            return None
        return path

    def fetch(
        self,
        artifact: Artifact,
        base_dir: Path | None = None,
        progress: ByteProgress | None = None,
        *,
        verify: bool = False,
    ) -> Path:
        """The cached file of ``artifact``, copied from its source and verified first when absent.

        ``base_dir`` is the card's folder, the root of file sources (see ``deepinfer.store._sources``).
        ``verify`` re-hashes a cached file too (and replaces it when it was corrupted on disk).
        """
        cached = self.cached_path(artifact, verify=verify)
        if cached is None:
            with exclusive_lock(self._lock_path(artifact.sha256)):
                cached = self.cached_path(artifact, verify=verify)  # another process may have fetched it
                if cached is None:
                    return self._fetch_locked(artifact, base_dir, progress)
        if progress is not None:
            progress(artifact.size, artifact.size)
        return cached

    def unpacked(self, artifact: Artifact, base_dir: Path | None = None, limits: ExtractLimits | None = None) -> Path:
        """The folder holding the members of an archive artifact (tar or zip), extracted once and checked.

        Extraction refuses unsafe members (see ``deepinfer.store._extract``) and is atomic: the folder
        ``<home>/artifacts/unpacked/<sha256>`` appears complete or not at all."""
        archive = self.fetch(artifact, base_dir)
        target = self.unpacked_root / artifact.sha256
        with exclusive_lock(self._lock_path(artifact.sha256)):
            if not target.is_dir():
                try:
                    extract_archive(archive, target, limits or ExtractLimits())
                except FetchError as error:
                    raise FetchError(f"artifact {artifact.name!r}: {error}") from error
        return target

    def entries(self) -> list[CacheEntry]:
        """The cached artifacts (regular files named by their sha256), by name."""
        return scan_cache(self.root).entries

    def verify_all(self) -> list[Path]:
        """Cached files whose content no longer matches their name (corrupted on disk)."""
        return [entry.path for entry in self.entries() if sha256_file(entry.path) != entry.sha256]

    def prune(self, keep: set[str] | None = None, *, dry_run: bool = False) -> list[Path]:
        """Remove partial downloads of interrupted fetches, anything in the cache that is not a regular file
        named by its sha256, and (when ``keep`` is given) every artifact whose sha256 is not in ``keep``."""
        return prune_cache(self.root, self.unpacked_root, self._lock_path, keep, dry_run=dry_run)

    def _lock_path(self, sha256: str) -> Path:
        return self.locks / f"{sha256}.lock"

    def _fetch_locked(self, artifact: Artifact, base_dir: Path | None, progress: ByteProgress | None) -> Path:
        for stale in self.root.glob(f"{PARTIAL_PREFIX}{artifact.sha256}-*"):
            stale.unlink(missing_ok=True)  # left by a killed process: we hold the lock, nobody writes it
        source = self._sources[artifact.source.kind]
        try:
            with source.open(artifact.source, base_dir) as stream:
                return self._store(artifact, stream, progress)
        except FetchError as error:
            raise FetchError(f"artifact {artifact.name!r}: {error}") from error

    def _store(self, artifact: Artifact, stream: ByteStream, progress: ByteProgress | None) -> Path:
        if stream.total is not None and stream.total != artifact.size:
            raise IntegrityError(
                f"artifact {artifact.name!r}: the source has {stream.total} bytes, the card says {artifact.size}"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=self.root, prefix=f"{PARTIAL_PREFIX}{artifact.sha256}-")
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


def _copy_hashing(artifact: Artifact, stream: ByteStream, handle: IO[bytes], progress: ByteProgress | None) -> str:
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
