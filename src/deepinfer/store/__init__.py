"""Content-addressed artifact cache; verified fetches from files, https, PyPI wheels and Debian packages."""

from deepinfer.store._paths import check_relative, resolve_inside
from deepinfer.store._pip import PipDownloader, SubprocessPipDownloader
from deepinfer.store._sources import ByteStream, Source
from deepinfer.store._store import ArtifactStore, ProgressCallback, sha256_file
from deepinfer.store._transport import HttpResponse, HttpTransport, UrllibTransport

__all__ = [
    "ArtifactStore",
    "ByteStream",
    "HttpResponse",
    "HttpTransport",
    "PipDownloader",
    "ProgressCallback",
    "Source",
    "SubprocessPipDownloader",
    "UrllibTransport",
    "check_relative",
    "resolve_inside",
    "sha256_file",
]
