"""Health (KServe v2 style) and the model registry: ``/v2/health/*``, ``/api/models``, ``/api/models/{id}``."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from deepinfer._exceptions import DeepInferError
from deepinfer.server._state import ServerState, server_state

router = APIRouter()
State = Annotated[ServerState, Depends(server_state)]


@router.get("/v2/health/live", tags=["health"], summary="The server process answers")
def live() -> dict[str, bool]:
    return {"live": True}


@router.get(
    "/v2/health/ready",
    tags=["health"],
    summary="The workers are up, the queue takes jobs and the jobs database can be written (503 otherwise); "
    "also lists the registries skipped (unreachable or failing verification)",
    responses={503: {"description": "Not ready: workers starting, draining, or the queue is full"}},
)
def ready(state: State) -> JSONResponse:
    from deepinfer.jobs import JobState

    queued = state.manager.store.count(JobState.queued)
    storage = state.manager.storage_problem
    body: dict[str, Any] = {
        "ready": state.manager.ready and queued < state.settings.max_queued and not state.stopping.is_set(),
        "workers": state.settings.workers,
        "queued": queued,
        "max_queued": state.settings.max_queued,
        "storage": {"ok": storage is None, "problem": state.folders.scrub(storage) if storage else None},
        "registries": {"skipped": [state.folders.scrub(line) for line in _skipped_registries(state)]},
    }
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


def _skipped_registries(state: ServerState) -> list[str]:
    """``NAME: reason`` of each configured registry the server skipped (unreachable, or failing verification)."""
    with contextlib.suppress(DeepInferError):
        state.registry.entries()
    return list(getattr(state.registry, "unavailable", []))


@router.get("/api/models", tags=["models"], summary="Every model: name, task, modality, license, metrics")
def list_models(state: State) -> list[dict[str, Any]]:
    from deepinfer.server._views import model_summary

    return [model_summary(card) for card in state.registry.list()]


@router.get(
    "/api/models/{model}",
    tags=["models"],
    summary="A model's card (id or id@version)",
    responses={404: {"description": "No such model"}},
)
def get_model(model: str, state: State) -> dict[str, Any]:
    card, _ = state.card(model)
    document: dict[str, Any] = card.model_dump(mode="json", exclude_none=True)
    return document
