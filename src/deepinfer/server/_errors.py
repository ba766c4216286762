"""Errors as JSON ``{"error": {"status": ..., "message": ...}}``; messages never carry a server path or a
traceback (unexpected exceptions are logged and answered with a generic message)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from deepinfer._exceptions import (
    DeepInferError,
    FetchError,
    ModelNotFoundError,
    QueueFullError,
    StorageError,
    UsageError,
)
from deepinfer.jobs import scrub_paths

log = logging.getLogger("deepinfer.server")


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None, roots: Sequence[Path] = ()
) -> JSONResponse:
    body = {"error": {"status": status, "message": scrub_paths(message, roots)}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def from_deepinfer_error(error: DeepInferError) -> ApiError:
    """The HTTP status of a deepinfer error raised while handling a request."""
    if isinstance(error, ModelNotFoundError):
        return ApiError(404, str(error))
    if isinstance(error, QueueFullError):
        return ApiError(503, str(error), {"Retry-After": str(error.retry_after)})
    if isinstance(error, UsageError):
        return ApiError(422, str(error))
    if isinstance(error, StorageError):
        return ApiError(507, str(error))
    if isinstance(error, FetchError):  # a PACS the server pulled a series from failed or refused
        return ApiError(502, str(error))
    return ApiError(400, str(error))


def _roots(request: Request) -> list[Path]:
    """The data folder of the server answering ``request`` (its paths are cut from messages)."""
    state = getattr(request.app.state, "deepinfer", None)
    return [state.folders.root] if state is not None else []


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiError)
        return error_response(error.status, error.message, error.headers, _roots(request))

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        return error_response(error.status_code, str(error.detail), error.headers, _roots(request))

    async def validation_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        where = [".".join(str(part) for part in problem.get("loc", ())) for problem in error.errors()]
        return error_response(422, f"invalid request: {', '.join(where) or 'malformed'}")

    async def deepinfer_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, DeepInferError)
        mapped = from_deepinfer_error(error)
        return error_response(mapped.status, mapped.message, mapped.headers, _roots(request))

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal server error")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(DeepInferError, deepinfer_error)
    app.add_exception_handler(Exception, unexpected)
