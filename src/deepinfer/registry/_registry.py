"""Registries: collections of model cards, looked up by ``id`` (latest version) or ``id@version``.

A :class:`Registry` loads its cards once (lazily, cached in the instance) through ``_load``; the sources are
:class:`DirectoryRegistry` (a folder of v2 cards or 2017 DeepInfer files, with or without an index, signed
or not), :class:`EmbeddedRegistry` (the project's own registry, shipped as package data), ``HttpRegistry``
(``_http.py``) and ``CombinedRegistry`` (``_combined.py``, several of them in precedence order).
"""

from __future__ import annotations

import difflib
import hashlib
from abc import ABC, abstractmethod
from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from deepinfer._exceptions import CardError, InputError, IntegrityError, ModelNotFoundError, Problem
from deepinfer.card import CardSummary
from deepinfer.registry._index import (
    INDEX_NAME,
    MAX_CARD_BYTES,
    MAX_INDEX_BYTES,
    IndexEntry,
    check_entry,
    discover_cards,
    parse_index,
    version_key,
)
from deepinfer.registry._signing import SIGNATURE_SUFFIX, verify_index
from deepinfer.registry._summaries import LoadedCard, SummaryCache
from deepinfer.store import resolve_inside

if TYPE_CHECKING:
    from deepinfer.card import ModelCard

Cards = list["ModelCard"]  # aliases: inside Registry the name ``list`` is the method
Summaries = list[CardSummary]


class Registry(ABC):
    """Lookup and search over the cards a subclass loads; ``name`` appears in error messages."""

    name = "registry"

    @abstractmethod
    def _load(self) -> list[LoadedCard]:
        """Every card of the registry, loaded and verified (called once per instance)."""

    @cached_property
    def _versions(self) -> dict[str, list[LoadedCard]]:
        """Card id → its cards, oldest version first."""
        by_id: dict[str, list[LoadedCard]] = {}
        for loaded in self._load():
            by_id.setdefault(loaded.summary.id, []).append(loaded)
        for versions in by_id.values():
            versions.sort(key=lambda loaded: version_key(loaded.summary.version))
        return dict(sorted(by_id.items()))

    def entries(self) -> list[LoadedCard]:
        """Every card with where it came from, by id, oldest version first."""
        return [loaded for versions in self._versions.values() for loaded in versions]

    def list(self) -> Cards:
        """The latest version of every card, by id."""
        return [versions[-1].card for versions in self._versions.values()]

    def summaries(self, query: str = "") -> Summaries:
        """The summary of the latest version of every card, by id; with ``query``, of those whose id, name,
        anatomy, modality, task or tags contain every word of it. (What listing needs: it does not validate a
        card again whose summary was kept, see ``_summaries.py``.)"""
        words = query.lower().split()
        latest = [versions[-1].summary for versions in self._versions.values()]
        return [summary for summary in latest if summary.matches(words)]

    def versions(self, card_id: str) -> Cards:
        """Every version of a card, oldest first (empty when the id is unknown)."""
        return [loaded.card for loaded in self._versions.get(card_id, [])]

    def get(self, ref: str) -> ModelCard:
        """The card ``id`` (its latest version) or ``id@version``."""
        return self.find(ref).card

    def find(self, ref: str) -> LoadedCard:
        """The card ``id`` (its latest version) or ``id@version`` with where it came from and the folder its file
        sources resolve against (what running it needs)."""
        card_id, _, version = ref.partition("@")
        versions = self._versions.get(card_id)
        if not versions:
            raise ModelNotFoundError(f"no model {card_id!r} in the {self.name}{self._suggest(card_id)}")
        if not version:
            return versions[-1]
        for loaded in versions:
            if loaded.summary.version == version:
                return loaded
        available = ", ".join(loaded.summary.version for loaded in versions)
        raise ModelNotFoundError(f"model {card_id!r} has no version {version!r} (available: {available})")

    def search(self, query: str) -> Cards:
        """Latest cards whose id, name, anatomy, modality, task or tags contain every word of ``query``."""
        return [self.get(summary.ref) for summary in self.summaries(query)]

    def _suggest(self, card_id: str) -> str:
        close = difflib.get_close_matches(card_id, list(self._versions), n=3, cutoff=0.5)
        close += [known for known in self._versions if card_id and card_id in known and known not in close]
        return f"; did you mean: {', '.join(close[:3])}?" if close else ""


class DirectoryRegistry(Registry):
    """A folder of cards: those its ``index.json`` lists (each pinned by sha256), else every ``*.json``.

    2017 DeepInfer files are imported as they are read. With ``keys`` (trusted Ed25519 public keys) the
    folder is a signed registry: it needs an index, signed by one of the keys in ``index.json.sig``."""

    def __init__(
        self,
        path: Path,
        *,
        keys: tuple[str, ...] = (),
        label: str | None = None,
        summaries: SummaryCache | None = None,
    ) -> None:
        self.path = path
        self.keys = keys
        self.name = f"registry {label!r}" if label else f"registry at {path}"
        self.summaries_kept = summaries or SummaryCache(None)
        """Where summaries of validated cards are kept between runs (by default: nowhere, every card is
        validated when the registry loads)."""

    def _load(self) -> list[LoadedCard]:
        if not self.path.is_dir():
            raise InputError(f"{self.name}: no such registry folder ({self.path})")
        index = self.path / INDEX_NAME
        if self.keys and not index.is_file():
            raise IntegrityError(f"{self.name}: a signed registry needs {index} (and its signature); refused")
        if index.is_file():
            entries = parse_index(self._index_bytes(index), str(index))
            loaded = [self._load_indexed(position, entry) for position, entry in enumerate(entries)]
        else:
            loaded = [self._load_file(path.relative_to(self.path).as_posix()) for path in discover_cards(self.path)]
        refuse_duplicates(loaded)
        self.summaries_kept.save()
        return loaded

    def _index_bytes(self, index: Path) -> bytes:
        """The index bytes, read once and (for a signed registry) verified before they are parsed."""
        try:
            data = _read_small(index, MAX_INDEX_BYTES)
        except OSError as error:
            raise InputError(f"{self.name}: cannot read {index} ({error.strerror or error})") from None
        if self.keys:
            signature_path = index.with_name(INDEX_NAME + SIGNATURE_SUFFIX)
            signature = signature_path.read_bytes() if signature_path.is_file() else None
            verify_index(data, signature, self.keys, f"{self.name} ({index})")
        return data

    def _load_indexed(self, position: int, entry: IndexEntry) -> LoadedCard:
        try:
            path = resolve_inside(self.path, entry.path)
        except ValueError as error:
            raise CardError(str(self.path / INDEX_NAME), [Problem(f"$.cards[{position}].path", str(error))]) from None
        try:
            data = _read_small(path, MAX_CARD_BYTES)
        except OSError as error:
            raise InputError(f"{self.name}: cannot read the card {path} ({error.strerror or error})") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != entry.sha256:
            signed = "signed " if self.keys else ""
            raise IntegrityError(
                f"{self.name}: card {path} refused: its sha256 {actual} differs from the {signed}index ({entry.sha256})"
            )
        # parsed only once its bytes are known to be the indexed ones
        loaded = self.summaries_kept.read(data, actual, str(path), path.parent)
        check_entry(entry, loaded.summary, path)
        return loaded

    def _load_file(self, relative: str) -> LoadedCard:
        try:
            path = resolve_inside(self.path, relative)
        except ValueError as error:
            raise CardError(str(self.path / relative), [Problem("$", str(error))]) from None
        try:
            data = _read_small(path, MAX_CARD_BYTES)
        except OSError as error:
            raise InputError(f"{path}: cannot read the card ({error.strerror or error})") from None
        return self.summaries_kept.read(data, hashlib.sha256(data).hexdigest(), str(path), path.parent)


def _read_small(path: Path, limit: int) -> bytes:
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"larger than {limit} bytes")
    return data


def refuse_duplicates(loaded: list[LoadedCard]) -> None:
    first: dict[str, str] = {}
    for item in loaded:
        earlier = first.setdefault(item.summary.ref, item.source)
        if earlier != item.source:
            raise CardError(item.source, [Problem("$.version", f"{item.summary.ref} is also defined in {earlier}")])


class EmbeddedRegistry(DirectoryRegistry):
    """The project's own registry, shipped inside the package (``deepinfer/_registry``)."""

    def __init__(self, summaries: SummaryCache | None = None) -> None:
        super().__init__(embedded_registry_path(), summaries=summaries)
        self.name = "embedded registry"


def embedded_registry_path() -> Path:
    return Path(str(files("deepinfer") / "_registry"))
