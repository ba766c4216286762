"""A client of the deepinfer server's API (httpx). The HTTP transport is the one seam: tests can pass
``httpx.MockTransport`` or an ASGI transport instead of a socket."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

from deepinfer import _exceptions as errors
from deepinfer._exceptions import (
    DeepInferError,
    InputError,
    ModelNotFoundError,
    QueueFullError,
    ServerError,
    UsageError,
)
from deepinfer.card import ModelCard
from deepinfer.client._sse import sse_events

ByteProgress = Callable[[int, int], None]
TERMINAL = {"succeeded", "failed", "cancelled"}
MAX_WARNINGS = 50
"""The most warnings of one job that the client shows."""
MAX_LINES = 40
"""The most lines of one server message that the client shows (a container's error ends with its last 20)."""
_JOB_ERRORS = {  # a failed job's error kind → the exception (and exit code) a local run would have raised
    name: getattr(errors, name)
    for name in (
        "UsageError",
        "InputError",
        "IntegrityError",
        "FetchError",
        "RuntimeUnavailableError",
        "PipelineError",
        "ContainerError",
        "ModelNotFoundError",
    )
}


class ServerClient:
    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 60.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"{url}: the server URL must start with http:// or https://")
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(
            base_url=self.url, headers=headers, transport=transport, timeout=httpx.Timeout(timeout, connect=10.0)
        )

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # -------------------------------------------------------------------------------------------- models

    def models(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self._json("GET", "/api/models")
        return listed

    def card(self, reference: str) -> ModelCard:
        return ModelCard.model_validate(self._json("GET", f"/api/models/{reference}"))

    # ---------------------------------------------------------------------------------------------- jobs

    def submit(
        self,
        model: str,
        inputs: Mapping[str, Path],
        parameters: Mapping[str, Any],
        output_format: str = ".nii.gz",
        progress: Callable[[str, int, int], None] | None = None,
    ) -> str:
        """Upload the inputs (streamed from disk) and queue a job; returns its id."""
        fields = {"model": model, "parameters": json.dumps(dict(parameters)), "output_format": output_format}
        handles = [_Reading(path, name, progress) for name, path in inputs.items()]
        try:
            files = {h.name: (h.path.name, h, "application/octet-stream") for h in handles}
            created = self._json("POST", "/api/jobs", data=fields, files=files, timeout=None)
        finally:
            for handle in handles:
                handle.close()
        return str(created["id"])

    def job(self, job_id: str) -> dict[str, Any]:
        status: dict[str, Any] = self._json("GET", f"/api/jobs/{job_id}")
        return status

    def cancel(self, job_id: str) -> None:
        response = self._send("POST", f"/api/jobs/{job_id}/cancel")
        if response.status_code not in (200, 409):
            raise _error(response)

    def follow(
        self, job_id: str, on_status: Callable[[dict[str, Any]], None], timeout: float | None = None
    ) -> dict[str, Any]:
        """Follow a job's events until it ends (reconnecting, or polling when streams fail); returns the job."""
        deadline = time.monotonic() + timeout if timeout else None
        failures = 0
        while deadline is None or time.monotonic() < deadline:
            try:
                final = self._stream(job_id, on_status)
            except httpx.TransportError:
                final, failures = None, failures + 1
            if final is None:
                final = self.job(job_id)  # the stream ended early: poll once, then listen again
                on_status(final)
            if final["state"] in TERMINAL:
                return self.job(job_id)
            time.sleep(min(0.2 * failures, 2.0))
        raise ServerError(f"job {job_id} did not finish within {timeout:.0f} s")

    def _stream(self, job_id: str, on_status: Callable[[dict[str, Any]], None]) -> dict[str, Any] | None:
        with self.http.stream("GET", f"/api/jobs/{job_id}/events", timeout=httpx.Timeout(60.0, read=90.0)) as response:
            if response.status_code != 200:
                response.read()
                raise _error(response)
            for event, data in sse_events(response.iter_lines()):
                if event != "status":
                    continue
                status: dict[str, Any] = json.loads(data)
                on_status(status)
                if status["state"] in TERMINAL:
                    return status
        return None

    def download(self, job_id: str, output: str, target: Path, progress: ByteProgress | None = None) -> None:
        """Stream an output of a finished job to ``target`` (written to a temporary name, then renamed)."""
        temporary = target.with_name(f".{target.name}.download-{os.getpid()}")
        try:
            with self.http.stream("GET", f"/api/jobs/{job_id}/outputs/{output}") as response:
                if response.status_code != 200:
                    response.read()
                    raise _error(response)
                total = int(response.headers.get("content-length", "0") or 0)
                done = 0
                with temporary.open("wb") as handle:
                    for chunk in response.iter_bytes(1 << 16):
                        handle.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, total)
            os.replace(temporary, target)
        except httpx.TransportError as error:
            raise ServerError(f"{self.url}: the download of {output} failed ({error})") from None
        finally:
            temporary.unlink(missing_ok=True)

    # ------------------------------------------------------------------------------------------- plumbing

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return self.http.request(method, path, **options)
        except httpx.TransportError as error:
            raise ServerError(f"cannot reach the deepinfer server at {self.url} ({error})") from None

    def _json(self, method: str, path: str, **options: Any) -> Any:
        response = self._send(method, path, **options)
        if response.status_code >= 400:
            raise _error(response)
        return response.json()


def job_error(status: Mapping[str, Any]) -> DeepInferError:
    """The error a failed (or cancelled) job stands for, as a local run would have raised it (the server's message
    made safe to show: see :func:`job_warnings`)."""
    if status["state"] == "cancelled":
        return ServerError(f"job {_shown(str(status['id']))} was cancelled on the server")
    error = status.get("error")
    error = error if isinstance(error, Mapping) else {}
    kind = _JOB_ERRORS.get(str(error.get("kind")), ServerError)
    message = error.get("message")
    exception: DeepInferError = kind(_shown(message) if isinstance(message, str) else "the job failed on the server")
    return exception


def job_warnings(status: Mapping[str, Any]) -> list[str]:
    """What the user of a finished job should know, as a local run would warn: the run's own warnings (an input
    that looks empty, say; the server names an input by its own copy's file name) and, on a ``serve --ray``
    server, each attempt whose Ray worker was lost (the job then ran again on a new one).

    The server's values are not trusted: only lists of strings are taken, control characters (terminal escapes)
    are replaced, each line is cut to a bounded length, and at most :data:`MAX_WARNINGS` are kept."""
    provenance = status.get("provenance")
    warnings = _strings(provenance.get("warnings") if isinstance(provenance, Mapping) else None)
    for line in _strings(status.get("lost")):
        warnings.append(f"the server lost the Ray worker running this job, and ran it again on a new one ({line})")
    shown = [_shown(warning) for warning in warnings[:MAX_WARNINGS]]
    if len(warnings) > MAX_WARNINGS:
        shown.append(f"... and {len(warnings) - MAX_WARNINGS} more warning(s) from the server")
    return shown


def _shown(text: str) -> str:
    """A server's text made safe to show: each of its first :data:`MAX_LINES` lines cleaned as a container's are."""
    from deepinfer.container import clean_line  # imported when a server's text is shown

    lines = text.splitlines() or [""]
    shown = [clean_line(line) for line in lines[:MAX_LINES]]
    return "\n".join(shown + ([f"... ({len(lines) - MAX_LINES} more line(s))"] if len(lines) > MAX_LINES else []))


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _error(response: httpx.Response) -> DeepInferError:
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = response.reason_phrase or "error"
    code = response.status_code
    if code == 401:
        return ServerError(f"the server refused the request: {message} (set DEEPINFER_TOKEN or --token)")
    if code == 404 and "model" in message:
        return ModelNotFoundError(f"server: {message}")
    if code in (413, 415):
        return InputError(f"server: {message}")
    if code == 422:
        return UsageError(f"server: {message}")
    if code == 503:
        retry = response.headers.get("retry-after", "")
        return QueueFullError(f"server busy: {message}", int(retry) if retry.isdigit() else 10)
    return ServerError(f"server answered {code}: {message}")


class _Reading:
    """A file being uploaded: reports bytes read (``progress("upload NAME", done, total)``)."""

    def __init__(self, path: Path, name: str, progress: Callable[[str, int, int], None] | None) -> None:
        self.path, self.name = path, name
        self._file: IO[bytes] = path.open("rb")
        self._total = path.stat().st_size
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        if self._progress:
            self._progress(f"upload {self.name}", self._file.tell(), self._total)
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()
