"""Jobs: submit (multipart upload), status, server-sent events, outputs, cancel, delete."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, StreamingResponse

from deepinfer._config import deepinfer_home
from deepinfer._exceptions import QueueFullError, StorageError
from deepinfer.jobs import JOB_ID, Job, JobState
from deepinfer.server._errors import ApiError
from deepinfer.server._pacs_inputs import pull_pacs_inputs
from deepinfer.server._state import ServerState, server_state
from deepinfer.server._uploads import discard_body, receive_upload
from deepinfer.server._views import build_job, job_view

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
State = Annotated[ServerState, Depends(server_state)]

RETRY_AFTER_S = 10
KEEPALIVE_S = 15.0
MAX_STREAM_S = 24 * 3600.0

_SUBMIT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["model"],
                "properties": {
                    "model": {"type": "string", "description": "Model id or id@version."},
                    "parameters": {
                        "type": "string",
                        "description": "JSON object of the card's parameters, checked against the card.",
                    },
                    "output_format": {"type": "string", "enum": [".nii.gz", ".nii", ".nrrd", ".mha"]},
                    "INPUT_NAME": {
                        "type": "string",
                        "format": "binary",
                        "description": "One file field per image input of the card, named after the input "
                        "(e.g. T2); NIfTI, NRRD or MHA.",
                    },
                },
            }
        }
    },
}


@router.post(
    "",
    status_code=201,
    summary="Submit a job: input volumes and JSON parameters (multipart); returns the job id",
    openapi_extra={"requestBody": _SUBMIT_BODY},
    responses={
        404: {"description": "No such model"},
        413: {"description": "Upload larger than the server's limit"},
        415: {"description": "Not multipart, or an unsupported file type"},
        422: {"description": "Bad parameters or inputs for the card"},
        503: {"description": "Queue full (see Retry-After)"},
        507: {"description": "Not enough free disk space on the server"},
    },
)
async def submit(request: Request, state: State) -> dict[str, Any]:
    if state.stopping.is_set() or _queue_full(state):
        await discard_body(request)
        raise _unavailable(state)
    _check_free_space(request, state)
    try:
        folder = state.folders.new_upload()
    except OSError as error:
        await discard_body(request)
        raise StorageError(f"the server cannot store the upload ({error.strerror})") from None
    try:
        upload = await receive_upload(request, folder, state.settings.max_upload_bytes, state.settings.body_timeout)
        model = upload.fields.get("model", "").strip()
        if not model:
            raise ApiError(422, "the form field model (a model id) is missing")
        card, _ = state.card(model)
        await pull_pacs_inputs(card, upload, deepinfer_home())
        job = build_job(state.manager.new_job_id(), card, upload)
        state.folders.adopt(folder, job.id)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        state.manager.submit(job)
    except QueueFullError:
        state.folders.remove(job.id)
        raise _unavailable(state) from None
    except StorageError:
        state.folders.remove(job.id)
        raise
    return {"id": job.id, "state": job.state.value, "url": f"/api/jobs/{job.id}"}


def _check_free_space(request: Request, state: ServerState) -> None:
    """507 before the upload when the data folder would keep less than the settings' minimum free space."""
    declared = request.headers.get("content-length", "")
    needed = state.settings.min_free_bytes + (int(declared) if declared.isdigit() else 0)
    free = state.folders.free_bytes()
    if free < needed:
        raise ApiError(
            507,
            f"not enough free disk space on the server for this job ({free // 2**20} MiB free, "
            f"{needed // 2**20} MiB needed with the reserve); try again later",
        )


def _queue_full(state: ServerState) -> bool:
    return state.manager.store.count(JobState.queued) >= state.settings.max_queued


def _unavailable(state: ServerState) -> ApiError:
    reason = "the server is shutting down" if state.stopping.is_set() else "the job queue is full"
    return ApiError(503, f"{reason}; try again later", {"Retry-After": str(RETRY_AFTER_S)})


def _job(state: ServerState, job_id: str) -> Job:
    job = state.manager.store.get(job_id) if JOB_ID.match(job_id) else None
    if job is None:
        raise ApiError(404, "no such job")
    return job


@router.get("/{job_id}", summary="A job: state, progress 0–1, message, timings (and provenance when done)")
def status(job_id: str, state: State) -> dict[str, Any]:
    return job_view(_job(state, job_id), state.folders)


@router.get(
    "/{job_id}/events",
    summary="Server-sent events: a `status` event (the job, as GET /api/jobs/{id}) on every change, until the job ends",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(job_id: str, request: Request, state: State) -> StreamingResponse:
    _job(state, job_id)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(_stream(job_id, request, state), media_type="text/event-stream", headers=headers)


async def _stream(job_id: str, request: Request, state: ServerState) -> AsyncIterator[str]:
    last: dict[str, Any] | None = None
    quiet_since = time.monotonic()
    deadline = time.monotonic() + MAX_STREAM_S
    yield "retry: 2000\n\n"
    while time.monotonic() < deadline and not state.stopping.is_set():
        job = state.manager.store.get(job_id)
        if job is None:
            return
        view = job_view(job)
        if view != last:
            last, quiet_since = view, time.monotonic()
            yield f"event: status\ndata: {json.dumps(view)}\n\n"
        if job.state.terminal or await request.is_disconnected():
            return
        if time.monotonic() - quiet_since > KEEPALIVE_S:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await state.changes.wait(timeout=1.0)


@router.get(
    "/{job_id}/outputs/{name}",
    summary="Download an output of a finished job (an image file)",
    response_class=FileResponse,
    responses={404: {"description": "No such job or output"}, 409: {"description": "The job has not succeeded"}},
)
def output(job_id: str, name: str, state: State) -> FileResponse:
    job = _job(state, job_id)
    if name not in job.outputs:
        raise ApiError(404, f"the job has no output {name}; its outputs are {', '.join(job.outputs)}")
    if job.state is not JobState.succeeded:
        raise ApiError(409, f"the job is {job.state.value}; outputs exist once it succeeded")
    try:
        path = state.folders.output_path(job, name)
    except KeyError:
        raise ApiError(404, f"output {name} is missing") from None
    if not path.is_file():
        raise ApiError(404, f"output {name} is missing")
    return FileResponse(path, media_type="application/octet-stream", filename=job.outputs[name])


@router.get(
    "/{job_id}/files/{name}",
    summary="Download any file a finished job wrote (its outputs, a SEG's SR, provenance, statistics JSON/CSV)",
    response_class=FileResponse,
    responses={404: {"description": "No such job or file"}, 409: {"description": "The job has not succeeded"}},
)
def output_file(job_id: str, name: str, state: State) -> FileResponse:
    job = _job(state, job_id)
    if job.state is not JobState.succeeded:
        raise ApiError(409, f"the job is {job.state.value}; its files exist once it succeeded")
    if name not in state.folders.output_files(job.id):  # only names the run wrote: never a path from the request
        raise ApiError(404, f"the job wrote no file {name!r}")
    return FileResponse(state.folders.output_dir(job.id) / name, media_type="application/octet-stream", filename=name)


@router.post(
    "/{job_id}/cancel",
    summary="Cancel a job (a running one has its worker process stopped)",
    responses={404: {"description": "No such job"}, 409: {"description": "The job has already ended"}},
)
async def cancel(job_id: str, state: State) -> dict[str, Any]:
    _job(state, job_id)
    before = await asyncio.to_thread(state.manager.cancel, job_id)
    if before is None:
        raise ApiError(404, "no such job")
    if before.terminal:
        raise ApiError(409, f"the job already ended ({before.value})")
    return job_view(_job(state, job_id))


@router.delete(
    "/{job_id}",
    summary="Delete an ended job: its record, inputs and outputs (cancel a queued or running job first)",
    responses={404: {"description": "No such job"}, 409: {"description": "The job is queued or running"}},
)
async def delete(job_id: str, state: State) -> dict[str, Any]:
    _job(state, job_id)
    before = await asyncio.to_thread(state.manager.remove, job_id)
    if before is None:
        raise ApiError(404, "no such job")
    if not before.terminal:
        raise ApiError(
            409, f"the job is {before.value}; cancel it first (POST /api/jobs/{job_id}/cancel), then delete it"
        )
    return {"id": job_id, "deleted": True}
