"""Origin and Host checks (an ASGI middleware) against cross-site requests and DNS rebinding.

A server without a token answers anyone who can reach its port, and a web page the user visits can reach a
loopback port: it can POST a job (a multipart form needs no CORS preflight), and with DNS rebinding (its own
name resolving to 127.0.0.1) it can read the answers. So, without a token:

- a request whose ``Host`` is not one of the server's names (the bound address, ``localhost``, ``127.0.0.1``,
  ``[::1]``, and the names given with ``--allowed-host``) gets 400;
- a state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` is not the server's own (its scheme, host
  and port are not those of the request) gets 403. A request without ``Origin`` (curl, the thin client) passes.

With a token, the token is the guard (a browser cannot send it cross-site without a CORS preflight this server
never grants) and the Host may be any name the machine is reached by; the Origin check still applies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def host_name(authority: str) -> str:
    """``example.org:8000`` → ``example.org``; ``[::1]:8000`` → ``::1`` (lower case)."""
    text = authority.strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


class OriginHostGuard:
    def __init__(self, app: ASGIApp, *, bound_host: str, allowed_hosts: Iterable[str], check_host: bool) -> None:
        self.app = app
        self.allowed = {host_name(name) for name in (*LOOPBACK_NAMES, bound_host, *allowed_hosts) if name}
        self.check_host = check_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        host = headers.get("host", "")
        if self.check_host and host_name(host) not in self.allowed:
            await _refuse(
                send,
                400,
                "unknown Host header: this server answers only to its own names "
                "(start it with --allowed-host NAME to add one)",
            )
            return
        origin = headers.get("origin")
        if scope["method"] in UNSAFE_METHODS and origin is not None and not _same_origin(origin, host, scope):
            await _refuse(
                send, 403, "cross-origin request refused: a page of another site cannot change jobs on this server"
            )
            return
        await self.app(scope, receive, send)


def _same_origin(origin: str, host: str, scope: Scope) -> bool:
    parts = urlsplit(origin.strip())
    return parts.scheme == scope.get("scheme", "http") and bool(host) and parts.netloc.lower() == host.lower()


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": {"status": status, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
