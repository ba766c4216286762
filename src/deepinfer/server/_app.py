"""The FastAPI application: API routes (token-checked when a token is set), the web UI, the job manager's life."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from deepinfer import __version__
from deepinfer.jobs import JobFolders, JobManager, ManagerSettings, RetentionPolicy
from deepinfer.registry import Registry, default_registry
from deepinfer.server import _job_routes, _routes, _web
from deepinfer.server._auth import require_token
from deepinfer.server._errors import install_error_handlers
from deepinfer.server._guard import OriginHostGuard
from deepinfer.server._settings import ServerSettings
from deepinfer.server._state import ChangeSignal, ServerState, card_lookup

log = logging.getLogger("deepinfer.server")

DESCRIPTION = """Run deepinfer models on a server: submit input volumes with the card's parameters, follow the
job's progress (JSON or server-sent events), download the outputs. Jobs persist across restarts.
When the server has a token, every `/api` and `/v2` route needs `Authorization: Bearer TOKEN`.
For research use only; not for clinical diagnosis."""


def create_app(settings: ServerSettings, registry: Registry | None = None) -> FastAPI:
    """The app; its lifespan starts the job manager (workers) and drains it at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        changes = ChangeSignal(asyncio.get_running_loop())
        folders = JobFolders(settings.data_dir)
        cards = registry or default_registry(skip_unverified=True)
        manager_settings = ManagerSettings(
            workers=settings.workers,
            threads=settings.worker_threads,
            runtime=settings.worker_runtime,
            precision=settings.worker_precision,
            max_queued=settings.max_queued,
            max_attempts=settings.max_attempts,
            job_timeout=settings.job_timeout,
            retention=RetentionPolicy(
                max_age_s=None if settings.retention_days is None else settings.retention_days * 86400.0,
                max_bytes=settings.retention_bytes,
            ),
            ray=settings.ray,
        )
        manager = JobManager(folders, card_lookup(cards), manager_settings, changes.notify)
        state = ServerState(settings, cards, folders, manager, changes)
        requeued, failed = manager.start()
        if requeued or failed:
            log.warning("after the restart: %d job(s) run again, %d failed", requeued, failed)
        app.state.deepinfer = state
        try:
            yield
        finally:
            state.stopping.set()
            await asyncio.to_thread(state.manager.shutdown, settings.drain_timeout)

    app = FastAPI(
        title="deepinfer server",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        redirect_slashes=False,  # its redirect would name the Host header's domain
    )
    app.add_middleware(
        OriginHostGuard,
        bound_host=settings.host,
        allowed_hosts=settings.allowed_hosts,
        check_host=not settings.token,
    )
    install_error_handlers(app)
    secured = [Depends(require_token)]
    app.include_router(_routes.router, dependencies=secured)
    app.include_router(_job_routes.router, dependencies=secured)
    app.include_router(_web.router)
    return app
