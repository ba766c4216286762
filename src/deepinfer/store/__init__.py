"""Content-addressed artifact cache; verified fetches from files, https, PyPI wheels and Debian packages;
the URL allowlist, safe archive extraction and the path-containment helpers every outside path goes through."""

from deepinfer.store._cache import CacheEntry, remove_path
from deepinfer.store._extract import ExtractLimits, extract_archive
from deepinfer.store._lock import exclusive_lock, lock_if_free
from deepinfer.store._paths import check_relative, check_url_path, resolve_inside
from deepinfer.store._pip import PipDownloader, SubprocessPipDownloader
from deepinfer.store._sources import ByteStream, Source
from deepinfer.store._store import ArtifactStore, ByteProgress, sha256_file
from deepinfer.store._transport import HttpResponse, HttpTransport, UrllibTransport
from deepinfer.store._urls import UrlPolicy, host_key, open_checked, read_limited

__all__ = [
    "ArtifactStore",
    "ByteProgress",
    "ByteStream",
    "CacheEntry",
    "ExtractLimits",
    "HttpResponse",
    "HttpTransport",
    "PipDownloader",
    "Source",
    "SubprocessPipDownloader",
    "UrlPolicy",
    "UrllibTransport",
    "check_relative",
    "check_url_path",
    "exclusive_lock",
    "extract_archive",
    "host_key",
    "lock_if_free",
    "open_checked",
    "read_limited",
    "remove_path",
    "resolve_inside",
    "sha256_file",
]
