"""The deepinfer HTTP server (FastAPI + uvicorn): models, a persistent job queue with warm workers, server-sent
progress events, and a web UI with a 3D viewer. ``deepinfer serve`` starts it; see ``/docs`` for the API."""

from deepinfer.server._app import create_app
from deepinfer.server._serve import serve
from deepinfer.server._settings import TOKEN_VARIABLE, ServerSettings, check_settings, default_data_dir, is_loopback

__all__ = [
    "TOKEN_VARIABLE",
    "ServerSettings",
    "check_settings",
    "create_app",
    "default_data_dir",
    "is_loopback",
    "serve",
]
