"""The URL allowlist: which URLs deepinfer may open, and redirects followed hop by hop under the same rules.

A URL is opened only when it is plain ASCII with no whitespace, control character or backslash (parsers
disagree on those, which is how ``https://allowed\\@evil`` style tricks work), has no user information and no
fragment, uses https (plain http only for loopback hosts under the test-only flag), and names an allowed host:
an entry ``host`` allows the scheme's default port, an entry ``host:port`` that port only.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit

from deepinfer._config import Settings
from deepinfer._exceptions import FetchError
from deepinfer.store._transport import HttpResponse, HttpTransport

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"https": 443, "http": 80}
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


@dataclass(frozen=True)
class UrlPolicy:
    """Allowed hosts (``host`` or ``host:port``) and whether plain http to a loopback host is allowed."""

    allowed_hosts: tuple[str, ...]
    allow_http_loopback: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, extra_hosts: tuple[str, ...] = ()) -> UrlPolicy:
        return cls((*settings.allowed_hosts, *extra_hosts), settings.allow_http_loopback)

    def check(self, url: str) -> None:
        """Raise :class:`FetchError` naming the rule ``url`` breaks."""
        parts = _split(url)
        host = (parts.hostname or "").lower()
        loopback_http = self.allow_http_loopback and parts.scheme == "http" and host in LOOPBACK_HOSTS
        if parts.scheme != "https" and not loopback_http:
            raise FetchError(f"{url}: only https URLs are allowed")
        if not host:
            raise FetchError(f"{url}: the URL names no host")
        if host_key(parts) not in self.allowed_hosts and not (loopback_http and host in self.allowed_hosts):
            raise FetchError(
                f"{url}: host {host_key(parts)!r} is not an allowed host ({', '.join(self.allowed_hosts)}); "
                "add it to allowed_hosts in config.json or DEEPINFER_ALLOWED_HOSTS"
            )


def _split(url: str) -> SplitResult:
    if not url.isascii() or _UNSAFE.search(url):
        raise FetchError(
            f"{url!r}: refused; a URL may not hold spaces, control characters, backslashes or non-ASCII "
            "characters (write the host in its xn-- form)"
        )
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise FetchError(f"{url}: user information ('...@') in a URL is refused")
    if "#" in url:
        raise FetchError(f"{url}: a URL fragment ('#...') is refused")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise FetchError(f"{url}: the port is not a number from 0 to 65535") from None
    return parts


def host_key(parts: SplitResult) -> str:
    """``host`` for the scheme's default port, else ``host:port`` (the form of an allowlist entry)."""
    host = (parts.hostname or "").lower()
    if parts.port is None or parts.port == _DEFAULT_PORTS.get(parts.scheme):
        return host
    return f"{host}:{parts.port}"


@contextlib.contextmanager
def open_checked(
    transport: HttpTransport, policy: UrlPolicy, url: str, headers: Mapping[str, str] | None = None
) -> Iterator[HttpResponse]:
    """The final (non-redirect) response for ``url``; every hop is checked against ``policy`` first."""
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        policy.check(current)
        with transport.open(current, headers) if headers else transport.open(current) as response:
            if response.redirect is None:
                yield response
                return
            current = urljoin(current, response.redirect)
    raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")


def read_limited(response: HttpResponse, limit: int, what: str) -> bytes:
    """The whole body, refusing more than ``limit`` bytes (announced or received)."""
    if response.total is not None and response.total > limit:
        raise FetchError(f"{what}: {response.total} bytes is more than the limit of {limit}")
    data = bytearray()
    for chunk in response.chunks:
        data += chunk
        if len(data) > limit:
            raise FetchError(f"{what}: more than the limit of {limit} bytes")
    return bytes(data)
