"""Plain helpers of the store tests (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

from deepinfer._config import Settings
from deepinfer.card import Artifact
from deepinfer.store import ArtifactStore, HttpResponse, HttpTransport


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_artifact(
    data: bytes, source: dict[str, Any], *, sha256: str | None = None, size: int | None = None
) -> Artifact:
    """An artifact named ``weights`` whose sha256 and size are those of ``data`` unless given."""
    return Artifact.model_validate(
        {
            "name": "weights",
            "sha256": sha256 or digest(data),
            "size": len(data) if size is None else size,
            "source": source,
        }
    )


class FakeTransport(HttpTransport):
    """Routes: URL → body bytes, or URL → str (a redirect to that location). Records every URL opened.

    It subclasses the Protocol so that mypy checks the fake against it (it once lacked ``headers``)."""

    def __init__(self, routes: dict[str, bytes | str], *, announce_size: int | None = None) -> None:
        self.routes = routes
        self.announce_size = announce_size
        self.opened: list[str] = []

    @contextlib.contextmanager
    def open(self, url: str, headers: Mapping[str, str] | None = None) -> Iterator[HttpResponse]:
        self.opened.append(url)
        body = self.routes[url]
        if isinstance(body, str):
            yield HttpResponse(redirect=body)
            return
        chunks = iter([body[i : i + 7] for i in range(0, len(body), 7)])
        yield HttpResponse(chunks=chunks, total=self.announce_size if self.announce_size else len(body))


def cache_listing(store: ArtifactStore) -> list[str]:
    return sorted(p.name for p in store.root.iterdir()) if store.root.is_dir() else []


def settings(*hosts: str, loopback: bool = False) -> Settings:
    return Settings(allowed_hosts=hosts, allow_http_loopback=loopback)
