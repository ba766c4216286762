"""A registry served as static files over https: ``index.json`` (+ ``index.json.sig``) and the card files.

Any static file host works (the 2017 registry lived on GitHub). The index is fetched with ``If-None-Match``
and ``If-Modified-Since``; the last copy that verified is kept in ``<home>/registries/<name>/`` (the index
and its signature in ``state.json``, each card under ``cards/<sha256>.json``). When the server cannot be
reached, that copy is used and a warning says how old it is; a copy younger than ``fresh_for`` seconds is
used without asking the server at all (``refresh`` always asks).

Card paths in the index must be plain relative URL paths (:func:`check_url_path`), cards are checked against
the sha256 of their index entry before they are parsed or cached, and a signed registry's index must carry
a signature by one of its trusted keys. Cards from a remote index have no folder: they cannot use file
sources. Redirects are followed only to the registry's own host and the allowed hosts.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from deepinfer._config import Settings
from deepinfer._exceptions import CardError, FetchError, IntegrityError, Problem
from deepinfer._files import write_atomic
from deepinfer.registry._configured import RegistrySource
from deepinfer.registry._index import (
    INDEX_NAME,
    MAX_CARD_BYTES,
    MAX_INDEX_BYTES,
    IndexEntry,
    check_entry,
    parse_index,
)
from deepinfer.registry._registry import Registry, refuse_duplicates
from deepinfer.registry._signing import MAX_SIGNATURE_BYTES, SIGNATURE_SUFFIX, verify_index
from deepinfer.registry._summaries import LoadedCard, SummaryCache
from deepinfer.store import HttpTransport, UrlPolicy, check_url_path, host_key, open_checked, read_limited

if TYPE_CHECKING:
    from deepinfer.card import ModelCard

logger = logging.getLogger("deepinfer.registry")
NOT_MODIFIED = 304


@dataclass(frozen=True)
class Snapshot:
    """An index as fetched: its bytes, its signature file, validators for conditional requests."""

    url: str
    index: bytes
    signature: bytes | None
    checked_at: float
    """When the server last confirmed this copy (seconds since the epoch)."""
    etag: str | None = None
    last_modified: str | None = None


def index_url(url: str) -> str:
    """The index URL of a registry URL (a folder URL, or the URL of its ``.json`` index itself)."""
    return url if urlsplit(url).path.endswith(".json") else urljoin(url.rstrip("/") + "/", INDEX_NAME)


def describe_age(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{max(int(seconds), 0)} seconds"


def utc_text(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M UTC")


class HttpRegistry(Registry):
    def __init__(
        self,
        source: RegistrySource,
        home: Path,
        settings: Settings,
        transport: HttpTransport,
        *,
        fresh_for: float = 600.0,
        clock: Callable[[], float] = time.time,
        summaries: SummaryCache | None = None,
    ) -> None:
        source.check()
        self.source = source
        self.name = f"registry {source.name!r}"
        self.index_url = index_url(source.url)
        self.cache = home / "registries" / source.name
        self.transport = transport
        self.policy = UrlPolicy.from_settings(settings, (host_key(urlsplit(source.url)),))
        self.fresh_for = fresh_for
        self.clock = clock
        self.status = "not loaded"
        self._force = False
        self.summaries_kept = summaries or SummaryCache(None)

    def refresh(self) -> list[ModelCard]:
        """Ask the server now, even when the cached copy is fresh; returns the latest cards."""
        self._force = True
        self.__dict__.pop("_versions", None)
        return self.list()

    def _load(self) -> list[LoadedCard]:
        cached = read_snapshot(self.cache, self.source.url)
        if cached is not None and not self._force and 0 <= self.clock() - cached.checked_at < self.fresh_for:
            self.status = f"cached copy, confirmed {describe_age(self.clock() - cached.checked_at)} ago"
            with contextlib.suppress(FetchError):  # a card missing from the cache: ask the server below
                return self._cards(cached, online=False)
        try:
            snapshot = self._fetch(cached)
            loaded = self._cards(snapshot, online=True)
        except FetchError as error:
            if cached is None:
                raise FetchError(f"{self.name}: {error} (and no copy is cached)") from error
            age = self.clock() - cached.checked_at
            self.status = (
                f"offline, using the copy last confirmed {describe_age(age)} ago ({utc_text(cached.checked_at)})"
            )
            logger.warning("%s is unreachable (%s); %s", self.name, error, self.status.removeprefix("offline, "))
            return self._cards(cached, online=False)
        write_snapshot(self.cache, snapshot)
        return loaded

    def _fetch(self, cached: Snapshot | None) -> Snapshot:
        headers = {}
        if cached is not None and cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached is not None and cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
        with open_checked(self.transport, self.policy, self.index_url, headers) as response:
            if response.status == NOT_MODIFIED and cached is not None:
                self.status = "up to date (not modified)"
                return replace(cached, checked_at=self.clock())
            if response.status != 200:
                raise FetchError(f"{self.index_url}: unexpected HTTP status {response.status}")
            index = read_limited(response, MAX_INDEX_BYTES, self.index_url)
            etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        signature = None
        if self.source.signed:
            signature = self._get(self.index_url + SIGNATURE_SUFFIX, MAX_SIGNATURE_BYTES)
        self.status = "updated"
        return Snapshot(self.source.url, index, signature, self.clock(), etag, modified)

    def _get(self, url: str, limit: int) -> bytes:
        with open_checked(self.transport, self.policy, url) as response:
            if response.status != 200:
                raise FetchError(f"{url}: unexpected HTTP status {response.status}")
            return read_limited(response, limit, url)

    def _cards(self, snapshot: Snapshot, *, online: bool) -> list[LoadedCard]:
        if self.source.signed:
            verify_index(snapshot.index, snapshot.signature, self.source.keys, f"{self.name} ({self.index_url})")
        entries = parse_index(snapshot.index, self.index_url)
        loaded = [self._card(position, entry, online) for position, entry in enumerate(entries)]
        refuse_duplicates(loaded)
        self.summaries_kept.save()
        return loaded

    def _card(self, position: int, entry: IndexEntry, online: bool) -> LoadedCard:
        try:
            url = urljoin(self.index_url, check_url_path(entry.path))
        except ValueError as error:
            raise CardError(
                f"{self.name} ({self.index_url})", [Problem(f"$.cards[{position}].path", str(error))]
            ) from None
        data = self._cached_card(entry.sha256)
        fetched = data is None
        if data is None:
            if not online:
                raise FetchError(f"{self.name}: card {entry.path} is not in the cache")
            data = self._get(url, MAX_CARD_BYTES)
            actual = hashlib.sha256(data).hexdigest()
            if actual != entry.sha256:
                signed = "signed " if self.source.signed else ""
                raise IntegrityError(
                    f"{self.name}: card {entry.path} refused: its sha256 {actual} differs from the "
                    f"{signed}index ({entry.sha256})"
                )
        loaded = self.summaries_kept.read(data, entry.sha256, url, None)
        check_entry(entry, loaded.summary, url)
        if fetched:
            write_atomic(self.cache / "cards" / f"{entry.sha256}.json", data)
        return loaded

    def _cached_card(self, sha256: str) -> bytes | None:
        path = self.cache / "cards" / f"{sha256}.json"
        try:
            data = path.read_bytes()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == sha256 else None


def read_snapshot(cache: Path, url: str) -> Snapshot | None:
    """The cached copy of the registry at ``url`` (None when absent, unreadable or of another URL)."""
    try:
        state: Any = json.loads((cache / "state.json").read_text(encoding="utf-8"))
        if state["url"] != url:
            return None
        signature = state.get("signature")
        return Snapshot(
            url,
            base64.b64decode(state["index"], validate=True),
            base64.b64decode(signature, validate=True) if signature is not None else None,
            float(state["checked_at"]),
            state.get("etag"),
            state.get("last_modified"),
        )
    except (OSError, ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        return None


def write_snapshot(cache: Path, snapshot: Snapshot) -> None:
    state = {
        "url": snapshot.url,
        "checked_at": snapshot.checked_at,
        "etag": snapshot.etag,
        "last_modified": snapshot.last_modified,
        "index": base64.b64encode(snapshot.index).decode("ascii"),
        "signature": base64.b64encode(snapshot.signature).decode("ascii") if snapshot.signature else None,
    }
    write_atomic(cache / "state.json", (json.dumps(state, indent=2) + "\n").encode("utf-8"))
