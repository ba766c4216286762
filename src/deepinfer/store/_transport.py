"""The one network seam: a tiny HTTP transport that does not follow redirects.

Following redirects is the caller's job (the URL source checks every hop against the allowed hosts), so a
transport only reports where a redirect points. Tests swap in a fake transport, like httpx's MockTransport.
"""

from __future__ import annotations

import contextlib
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.client import HTTPResponse
from typing import IO, Any, Protocol
from urllib.parse import urljoin, urlsplit

from deepinfer._exceptions import FetchError

CHUNK_SIZE = 1 << 20
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
NOT_MODIFIED = 304
_KEPT_HEADERS = ("ETag", "Last-Modified")


@dataclass(frozen=True)
class HttpResponse:
    """A response body as chunks; ``redirect`` is the absolute target URL of a 3xx answer.

    ``status`` is 200, or 304 (not modified) when conditional request headers were sent; ``headers`` holds
    the response headers a caller may need (``ETag``, ``Last-Modified``)."""

    chunks: Iterator[bytes] = field(default_factory=lambda: iter(()))
    total: int | None = None
    redirect: str | None = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


class HttpTransport(Protocol):
    """``open(url, headers)`` is a context manager yielding one :class:`HttpResponse`; errors raise FetchError.

    ``headers`` (optional) are extra request headers, such as ``If-None-Match``."""

    def open(
        self, url: str, headers: Mapping[str, str] | None = None
    ) -> contextlib.AbstractContextManager[HttpResponse]: ...


def read_chunks(handle: IO[bytes], chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    while chunk := handle.read(chunk_size):
        yield chunk


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx code, which open() turns into a redirect


class UrllibTransport:
    """The default transport (standard library); ``ssl_context`` allows a private certificate authority.

    The opener (and the default TLS context, whose certificate store takes about 20 ms to load) is made on the
    first request, so a run that fetches nothing does not pay for it."""

    def __init__(self, timeout: float = 60.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._built: urllib.request.OpenerDirector | None = None

    @property
    def _opener(self) -> urllib.request.OpenerDirector:
        if self._built is None:
            opener = urllib.request.OpenerDirector()
            for handler in (
                urllib.request.ProxyHandler(),
                urllib.request.UnknownHandler(),
                urllib.request.HTTPHandler(),
                urllib.request.HTTPSHandler(context=self._ssl_context or ssl.create_default_context()),
                urllib.request.HTTPDefaultErrorHandler(),
                _NoRedirects(),
                urllib.request.HTTPErrorProcessor(),
            ):
                opener.add_handler(handler)
            self._built = opener
        return self._built

    @contextlib.contextmanager
    def open(self, url: str, headers: Mapping[str, str] | None = None) -> Iterator[HttpResponse]:
        if urlsplit(url).scheme not in ("http", "https"):
            raise FetchError(f"{url}: not an http(s) URL")
        request = urllib.request.Request(url, headers={**(headers or {}), "User-Agent": "deepinfer"})
        try:
            response: HTTPResponse = self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            with error:
                yield _error_response(url, error)
            return
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise FetchError(f"{url}: cannot connect ({reason})") from None
        with response:
            yield HttpResponse(
                chunks=_network_chunks(url, response), total=_content_length(response), headers=_kept(response)
            )


def _error_response(url: str, error: urllib.error.HTTPError) -> HttpResponse:
    """A redirect or a 304 (urllib reports both as errors); any other status raises FetchError."""
    location = error.headers.get("Location")
    if error.code in REDIRECT_CODES and location:
        return HttpResponse(redirect=urljoin(url, location))
    if error.code == NOT_MODIFIED:
        return HttpResponse(status=NOT_MODIFIED, headers=_kept(error))
    raise FetchError(f"{url}: HTTP {error.code} {error.reason}") from None


def _kept(response: HTTPResponse | urllib.error.HTTPError) -> dict[str, str]:
    found = {name: response.headers.get(name) for name in _KEPT_HEADERS}
    return {name: value for name, value in found.items() if value is not None}


def _network_chunks(url: str, response: HTTPResponse) -> Iterator[bytes]:
    try:
        yield from read_chunks(response)
    except OSError as error:
        raise FetchError(f"{url}: download interrupted ({error})") from None


def _content_length(response: HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value is not None and value.isdigit() else None
