"""A real static file server on 127.0.0.1 for the registry and store tests (import ``from localhttp import ...``).

It serves the files under ``root`` with ``ETag`` and ``Last-Modified`` and answers conditional requests with
304, like a static host. ``redirects`` maps a path to a ``Location``; ``delay`` sleeps between body chunks (a
slow server, for the locking and SIGKILL tests); ``requests`` records ``(path, status)`` of every request.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deepinfer._config import Settings

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


class StaticServer:
    def __init__(self, root: Path, *, delay: float = 0.0, chunk_size: int = 1 << 16) -> None:
        self.root = root
        self.delay = delay
        self.chunk_size = chunk_size
        self.redirects: dict[str, str] = {}
        self.requests: list[tuple[str, int]] = []
        self.conditional: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> StaticServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def count(self, path: str, status: int = 200) -> int:
        return sum(1 for seen, code in self.requests if seen == path and code == status)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._answer(self)

            def log_message(self, format: str, *args: object) -> None:
                return None

        return Handler

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path
        if path in self.redirects:
            return self._send(request, 302, b"", {"Location": self.redirects[path]})
        file = (self.root / path.lstrip("/")).resolve()
        if not file.is_relative_to(self.root.resolve()) or not file.is_file():
            return self._send(request, 404, b"not found", {})
        body = file.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        modified = formatdate(file.stat().st_mtime, usegmt=True)
        if request.headers.get("If-None-Match") or request.headers.get("If-Modified-Since"):
            self.conditional.append(path)
        if request.headers.get("If-None-Match") == etag:
            return self._send(request, 304, b"", {"ETag": etag})
        self._send(request, 200, body, {"ETag": etag, "Last-Modified": modified})

    def _send(self, request: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.requests.append((request.path, status))
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        try:
            for start in range(0, len(body), self.chunk_size):
                request.wfile.write(body[start : start + self.chunk_size])
                request.wfile.flush()
                if self.delay:
                    time.sleep(self.delay)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (a killed download)


@contextlib.contextmanager
def serve(root: Path, *, delay: float = 0.0) -> Iterator[StaticServer]:
    """A started server of ``root``; stopped on exit."""
    server = StaticServer(root, delay=delay).start()
    try:
        yield server
    finally:
        server.stop()


def drop_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment must not carry the loopback requests elsewhere."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def loopback_settings(*hosts: str) -> Settings:
    """Settings that allow plain http to 127.0.0.1 (the test-only flag) and the given artifact hosts."""
    return Settings(allowed_hosts=("127.0.0.1", *hosts), allow_http_loopback=True)
