"""The one network seam: a tiny HTTP transport that does not follow redirects.

Following redirects is the caller's job (the URL source checks every hop against the allowed hosts), so a
transport only reports where a redirect points. Tests swap in a fake transport, like httpx's MockTransport.
"""

from __future__ import annotations

import contextlib
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.client import HTTPResponse
from typing import IO, Any, Protocol
from urllib.parse import urljoin, urlsplit

from deepinfer._exceptions import FetchError

CHUNK_SIZE = 1 << 20
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class HttpResponse:
    """A response body as chunks; ``redirect`` is the absolute target URL of a 3xx answer."""

    chunks: Iterator[bytes] = field(default_factory=lambda: iter(()))
    total: int | None = None
    redirect: str | None = None


class HttpTransport(Protocol):
    """``open(url)`` is a context manager yielding one :class:`HttpResponse`; errors raise FetchError."""

    def open(self, url: str) -> contextlib.AbstractContextManager[HttpResponse]: ...


def read_chunks(handle: IO[bytes], chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    while chunk := handle.read(chunk_size):
        yield chunk


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx code, which open() turns into a redirect


class UrllibTransport:
    """The default transport (standard library); ``ssl_context`` allows a private certificate authority."""

    def __init__(self, timeout: float = 60.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout
        opener = urllib.request.OpenerDirector()
        for handler in (
            urllib.request.ProxyHandler(),
            urllib.request.UnknownHandler(),
            urllib.request.HTTPHandler(),
            urllib.request.HTTPSHandler(context=ssl_context or ssl.create_default_context()),
            urllib.request.HTTPDefaultErrorHandler(),
            _NoRedirects(),
            urllib.request.HTTPErrorProcessor(),
        ):
            opener.add_handler(handler)
        self._opener = opener

    @contextlib.contextmanager
    def open(self, url: str) -> Iterator[HttpResponse]:
        if urlsplit(url).scheme not in ("http", "https"):
            raise FetchError(f"{url}: not an http(s) URL")
        request = urllib.request.Request(url, headers={"User-Agent": "deepinfer"})
        try:
            response: HTTPResponse = self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            with error:
                location = error.headers.get("Location")
                if error.code in REDIRECT_CODES and location:
                    redirect = urljoin(url, location)
                else:
                    raise FetchError(f"{url}: HTTP {error.code} {error.reason}") from None
            yield HttpResponse(redirect=redirect)
            return
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise FetchError(f"{url}: cannot connect ({reason})") from None
        with response:
            yield HttpResponse(chunks=_network_chunks(url, response), total=_content_length(response))


def _network_chunks(url: str, response: HTTPResponse) -> Iterator[bytes]:
    try:
        yield from read_chunks(response)
    except OSError as error:
        raise FetchError(f"{url}: download interrupted ({error})") from None


def _content_length(response: HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value is not None and value.isdigit() else None
