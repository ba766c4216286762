"""What the routes share: settings, the registry, the job manager, and the change signal of the event streams."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request

from deepinfer.card import ModelCard
from deepinfer.jobs import CardLookup, JobFolders, JobManager
from deepinfer.registry import Registry
from deepinfer.server._settings import ServerSettings


class ChangeSignal:
    """Wakes every event stream when a job row changed (called from the job manager's thread)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def notify(self, job_id: str = "") -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens any more
            self._loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)


@dataclass
class ServerState:
    settings: ServerSettings
    registry: Registry
    folders: JobFolders
    manager: JobManager
    changes: ChangeSignal
    stopping: threading.Event = field(default_factory=threading.Event)

    def card(self, reference: str) -> tuple[ModelCard, Path | None]:
        return card_lookup(self.registry)(reference)


def card_lookup(registry: Registry) -> CardLookup:
    """``id`` or ``id@version`` → (card, the folder its file artifacts resolve against)."""

    def lookup(reference: str) -> tuple[ModelCard, Path | None]:
        loaded = registry.find(reference)
        return loaded.card, loaded.folder

    return lookup


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.deepinfer
    return state
