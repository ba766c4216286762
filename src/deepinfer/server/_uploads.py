"""Streaming multipart uploads: file parts go straight to disk (never held in memory) under a size cap.

A file part is stored as ``<field name><suffix>`` in the request's own upload folder: the field must be a plain
member name and the client's file name only tells the format (``.nii.gz``, ``.nii``, ``.nrrd``, ``.mha``, or
``.zip`` of a DICOM series).
Text fields are small (64 KiB each). When a request is refused part-way, the rest of its body is read and
dropped (up to 32 MiB) so the client gets the answer instead of a reset connection.
"""

from __future__ import annotations

import asyncio
import errno
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from deepinfer._exceptions import StorageError
from deepinfer.jobs import INPUT_SUFFIXES, display_name, upload_suffix
from deepinfer.server._errors import ApiError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 32
DRAIN_LIMIT = 32 * 1024 * 1024
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


@dataclass(frozen=True)
class ReceivedFile:
    file: str
    """Name in the upload folder (chosen by the server)."""
    filename: str
    """The client's file name, for display."""
    bytes: int


@dataclass
class Upload:
    folder: Path
    files: dict[str, ReceivedFile] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)


def open_part(path: Path) -> IO[bytes]:
    """Where a file part is written (the one seam for the uploads' writes)."""
    return path.open("xb")


class _Receiver:
    """The multipart parser's callbacks: one part at a time, written to disk as it arrives."""

    def __init__(self, upload: Upload) -> None:
        self.upload = upload
        self.header_name = b""
        self.header_value = b""
        self.disposition = b""
        self.name = ""
        self.text: bytearray | None = None
        self.handle: IO[bytes] | None = None
        self.file: ReceivedFile | None = None
        self.written = 0
        self.parts = 0

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": lambda data, start, end: self._add_header(name=data[start:end]),
            "on_header_value": lambda data, start, end: self._add_header(value=data[start:end]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise ApiError(422, f"too many form parts (at most {MAX_PARTS})")
        self.disposition = b""

    def _add_header(self, name: bytes = b"", value: bytes = b"") -> None:
        self.header_name += name
        self.header_value += value

    def header_end(self) -> None:
        if self.header_name.lower() == b"content-disposition":
            self.disposition = self.header_value
        self.header_name = self.header_value = b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if not FIELD_NAME.match(name):
            raise ApiError(422, "every form part needs a plain field name (letters, digits, _)")
        if name in self.upload.files or name in self.upload.fields:
            raise ApiError(422, f"form field {name} given twice")
        self.name = name
        if b"filename" not in options:
            self.text = bytearray()
            return
        client_name = options[b"filename"].decode("utf-8", "replace")
        suffix = upload_suffix(client_name)
        if suffix is None:
            formats = ", ".join(INPUT_SUFFIXES)
            raise ApiError(415, f"{display_name(client_name, name)}: unsupported file type; send one of {formats}")
        stored = f"{name}{suffix}"
        self.handle = open_part(self.upload.folder / stored)
        self.file = ReceivedFile(stored, display_name(client_name, stored), 0)
        self.written = 0

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.handle is not None:
            self.handle.write(data[start:end])
            self.written += end - start
        elif self.text is not None:
            self.text += data[start:end]
            if len(self.text) > MAX_FIELD_BYTES:
                raise ApiError(413, f"form field {self.name} is larger than {MAX_FIELD_BYTES // 1024} KiB")

    def part_end(self) -> None:
        if self.handle is not None and self.file is not None:
            self.handle.close()
            self.handle = None
            self.upload.files[self.name] = ReceivedFile(self.file.file, self.file.filename, self.written)
        elif self.text is not None:
            self.upload.fields[self.name] = self.text.decode("utf-8", "replace")
            self.text = None

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


async def receive_upload(request: Request, folder: Path, max_bytes: int, idle_timeout: float = 60.0) -> Upload:
    """Parse a multipart/form-data body into ``folder``; ApiError 413 past ``max_bytes``, 415/422 on bad parts,
    408 when the body pauses longer than ``idle_timeout`` s; StorageError (507) when the disk is full."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        await discard_body(request)
        raise ApiError(415, "send the job as multipart/form-data")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        await discard_body(request)
        raise _too_large(max_bytes)
    upload = Upload(folder)
    receiver = _Receiver(upload)
    parser = MultipartParser(boundary, receiver.callbacks())
    try:
        await _feed(_paced(request.stream(), idle_timeout), parser, max_bytes)
    finally:
        try:
            receiver.close()
        except OSError as error:
            raise _storage(error) from None
    return upload


async def _paced(stream: AsyncIterator[bytes], idle_timeout: float) -> AsyncIterator[bytes]:
    """The body's pieces; ApiError 408 when the next one takes longer than ``idle_timeout`` s."""
    iterator = aiter(stream)
    while True:
        try:
            chunk = await asyncio.wait_for(anext(iterator), idle_timeout)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiError(408, f"the upload stalled for more than {idle_timeout:g} s") from None
        yield chunk


def _storage(error: OSError) -> Exception:
    """A write error of an upload: a full disk is the server's problem (507), not a malformed body."""
    if error.errno in _NO_SPACE:
        return StorageError("the server's disk is full; the upload could not be stored, try again later")
    return StorageError(f"the server could not store the upload ({error.strerror or type(error).__name__})")


async def _feed(stream: AsyncIterator[bytes], parser: MultipartParser, max_bytes: int) -> None:
    received = 0
    refused: Exception | None = None
    dropped = 0
    try:
        async for chunk in stream:
            received += len(chunk)
            if refused is not None:
                dropped += len(chunk)
                if dropped > DRAIN_LIMIT:
                    break
                continue
            try:
                if received > max_bytes:
                    raise _too_large(max_bytes)
                parser.write(chunk)
            except ApiError as error:
                refused = error
            except OSError as error:  # writing a file part: the server's disk, not the client's body
                refused = _storage(error)
            except Exception:  # the multipart parser's own errors: a malformed body
                refused = ApiError(400, "malformed multipart body")
    except ClientDisconnect:
        raise ApiError(400, "the client went away during the upload") from None
    if refused is not None:
        raise refused
    try:
        parser.finalize()
    except OSError as error:
        raise _storage(error) from None
    except Exception:
        raise ApiError(400, "malformed multipart body") from None


async def discard_body(request: Request) -> None:
    """Read and drop the request body (up to 32 MiB), so a refusal reaches a client that is still sending."""
    dropped = 0
    try:
        async for chunk in request.stream():
            dropped += len(chunk)
            if dropped > DRAIN_LIMIT:
                return
    except (ClientDisconnect, RuntimeError):
        return


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, f"the upload is larger than the server's limit of {_size(max_bytes)}")


def _size(count: int) -> str:
    return f"{count / 2**20:.0f} MiB" if count >= 2**20 else f"{count} bytes"
