"""Running the app under uvicorn, with a shutdown that first ends the event streams, then drains the jobs."""

from __future__ import annotations

import logging
from types import FrameType

import uvicorn
from fastapi import FastAPI

from deepinfer._exceptions import UsageError
from deepinfer.server._app import create_app
from deepinfer.server._settings import ServerSettings, check_settings
from deepinfer.server._state import ServerState
from deepinfer.store._lock import lock_if_free

STREAMS_GRACE_S = 5


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


def serve(settings: ServerSettings) -> None:
    """Serve until interrupted (checks the bind rule first; one server per data folder)."""
    check_settings(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=STREAMS_GRACE_S,
        proxy_headers=False,
        server_header=False,
    )
    with lock_if_free(settings.data_dir / "server.lock") as held:  # released by the kernel even on SIGKILL
        if not held:
            raise UsageError(f"another deepinfer server is using the data folder {settings.data_dir}")
        _Server(config, app).run()
