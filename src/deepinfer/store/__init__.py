"""Content-addressed artifact cache; verified fetches from files, https, PyPI wheels and Debian packages;
the URL allowlist, safe archive extraction and the path-containment helpers every outside path goes through."""

from typing import TYPE_CHECKING

from deepinfer._exports import lazy_exports

if TYPE_CHECKING:
    from deepinfer.store._cache import CacheEntry as CacheEntry
    from deepinfer.store._cache import remove_path as remove_path
    from deepinfer.store._extract import ExtractLimits as ExtractLimits
    from deepinfer.store._extract import extract_archive as extract_archive
    from deepinfer.store._lock import exclusive_lock as exclusive_lock
    from deepinfer.store._lock import lock_if_free as lock_if_free
    from deepinfer.store._paths import check_relative as check_relative
    from deepinfer.store._paths import check_url_path as check_url_path
    from deepinfer.store._paths import resolve_inside as resolve_inside
    from deepinfer.store._pip import PipDownloader as PipDownloader
    from deepinfer.store._pip import SubprocessPipDownloader as SubprocessPipDownloader
    from deepinfer.store._sources import ByteStream as ByteStream
    from deepinfer.store._sources import Source as Source
    from deepinfer.store._store import ArtifactStore as ArtifactStore
    from deepinfer.store._store import ByteProgress as ByteProgress
    from deepinfer.store._store import sha256_file as sha256_file
    from deepinfer.store._transport import HttpResponse as HttpResponse
    from deepinfer.store._transport import HttpTransport as HttpTransport
    from deepinfer.store._transport import UrllibTransport as UrllibTransport
    from deepinfer.store._urls import UrlPolicy as UrlPolicy
    from deepinfer.store._urls import host_key as host_key
    from deepinfer.store._urls import open_checked as open_checked
    from deepinfer.store._urls import read_limited as read_limited

__all__, __getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "_cache": "CacheEntry remove_path",
        "_extract": "ExtractLimits extract_archive",
        "_lock": "exclusive_lock lock_if_free",
        "_paths": "check_relative check_url_path resolve_inside",
        "_pip": "PipDownloader SubprocessPipDownloader",
        "_sources": "ByteStream Source",
        "_store": "ArtifactStore ByteProgress sha256_file",
        "_transport": "HttpResponse HttpTransport UrllibTransport",
        "_urls": "UrlPolicy host_key open_checked read_limited",
    },
)
