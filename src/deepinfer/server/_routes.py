"""Health (KServe v2 style) and the model registry: ``/v2/health/*``, ``/api/models``, ``/api/models/{id}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from deepinfer.server._state import ServerState, server_state

router = APIRouter()
State = Annotated[ServerState, Depends(server_state)]


@router.get("/v2/health/live", tags=["health"], summary="The server process answers")
def live() -> dict[str, bool]:
    return {"live": True}


@router.get(
    "/v2/health/ready",
    tags=["health"],
    summary="The workers are up and the queue takes jobs (503 otherwise)",
    responses={503: {"description": "Not ready: workers starting, draining, or the queue is full"}},
)
def ready(state: State) -> JSONResponse:
    from deepinfer.jobs import JobState

    queued = state.manager.store.count(JobState.queued)
    body: dict[str, Any] = {
        "ready": state.manager.ready and queued < state.settings.max_queued and not state.stopping.is_set(),
        "workers": state.settings.workers,
        "queued": queued,
        "max_queued": state.settings.max_queued,
    }
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


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
