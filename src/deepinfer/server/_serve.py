"""Running the app under uvicorn, with a shutdown that first ends the event streams, then drains the jobs.

The listening socket is bound before anything starts, so a port in use is one clear error (exit 1) rather than
uvicorn's start-up failure (exit 3, which deepinfer keeps for bad input). Connections are bounded: headers must
arrive within ``header_timeout`` s, an idle keep-alive connection closes after ``keep_alive`` s, at most
``max_connections`` are served at once (503 past that), and floods of similar log lines are rate-limited.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from deepinfer._exceptions import ServerError, UsageError
from deepinfer.server._app import create_app
from deepinfer.server._logging import RateLimitFilter, TokenScrubFilter
from deepinfer.server._settings import ServerSettings, bind_address, check_settings
from deepinfer.server._state import ServerState
from deepinfer.store import lock_if_free

STREAMS_GRACE_S = 5
MAX_HEADER_BYTES = 64 * 1024
RATE_LIMITED_LOGGERS = ("asyncio", "uvicorn.error")

log = logging.getLogger("deepinfer.server")


class _Server(uvicorn.Server):
    """On SIGINT/SIGTERM: tell the event streams to end, so open connections close and the lifespan's drain
    (running jobs finish, up to the drain timeout) can start."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        state: ServerState | None = getattr(self.app.state, "deepinfer", None)
        if state is not None:
            state.stopping.set()
        super().handle_exit(sig, frame)


def header_timeout_protocol(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing a connection whose first request's headers take over ``seconds``."""

    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._header_timer = self.loop.call_later(seconds, self._headers_too_slow)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not None:
                self._stop_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            super().connection_lost(exc)

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.cycle is None and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutProtocol


def uvicorn_config(app: FastAPI, settings: ServerSettings) -> uvicorn.Config:
    config = uvicorn.Config(
        app,
        host=bind_address(settings.host),
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=STREAMS_GRACE_S,
        timeout_keep_alive=max(1, round(settings.keep_alive)),
        limit_concurrency=settings.max_connections,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        http=header_timeout_protocol(settings.header_timeout),
        proxy_headers=False,
        server_header=False,
    )
    install_log_filters()
    return config


def install_log_filters() -> None:
    """Rate limits for the loggers a connection flood fills, and no ``token=`` in the access log."""
    for name in RATE_LIMITED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(known, RateLimitFilter) for known in logger.filters):
            logger.addFilter(RateLimitFilter())
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(known, TokenScrubFilter) for known in access.filters):
        access.addFilter(TokenScrubFilter())


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` (``[::1]`` works as ``::1``); ServerError naming the problem."""
    address = bind_address(host)
    try:
        family, kind, protocol, _, where = socket.getaddrinfo(
            address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise UsageError(f"--host {host}: not an address this machine can listen on ({error.strerror})") from None
    sock = socket.socket(family, kind, protocol)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(where)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise ServerError(
                f"cannot listen on {host} port {port}: the port is in use (another server?); choose another --port"
            ) from None
        raise ServerError(f"cannot listen on {host} port {port}: {error.strerror or error}") from None
    sock.set_inheritable(True)
    return sock


def serve(settings: ServerSettings) -> None:
    """Serve until interrupted (checks the bind rule first; one server per data folder)."""
    check_settings(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with lock_if_free(settings.data_dir / "server.lock") as held:  # released by the kernel even on SIGKILL
        if not held:
            raise UsageError(f"another deepinfer server is using the data folder {settings.data_dir}")
        sock = listening_socket(settings.host, settings.port)
        app = create_app(settings)
        config = uvicorn_config(app, settings)
        log.info("listening on http://%s:%d", _url_host(settings.host), settings.port)
        try:
            _Server(config, app).run(sockets=[sock])
        finally:
            sock.close()


def _url_host(host: str) -> str:
    address = bind_address(host)
    return f"[{address}]" if ":" in address else address
