"""Registries: collections of model cards, looked up by ``id`` (latest version) or ``id@version``.

A :class:`Registry` loads its cards once (lazily, cached in the instance) through ``_load``; the sources are
:class:`DirectoryRegistry` (a folder, with or without an index) and :class:`EmbeddedRegistry` (the project's
own registry, shipped as package data).
"""

from __future__ import annotations

import difflib
import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from importlib.resources import files
from pathlib import Path

from deepinfer._exceptions import CardError, InputError, IntegrityError, ModelNotFoundError, Problem
from deepinfer.card._model import ModelCard
from deepinfer.card._validate import parse_card
from deepinfer.registry._index import (
    INDEX_NAME,
    IndexEntry,
    check_entry,
    discover_cards,
    read_index,
    version_key,
)
from deepinfer.store import resolve_inside

Cards = list[ModelCard]  # an alias: inside Registry the name ``list`` is the method


@dataclass(frozen=True)
class LoadedCard:
    card: ModelCard
    source: str
    """Where the card came from (a file path or URL), for error messages."""
    folder: Path | None
    """The folder the card's file sources resolve against (None: the card may not use file sources)."""


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
            by_id.setdefault(loaded.card.id, []).append(loaded)
        for versions in by_id.values():
            versions.sort(key=lambda loaded: version_key(loaded.card.version))
        return dict(sorted(by_id.items()))

    def list(self) -> Cards:
        """The latest version of every card, by id."""
        return [versions[-1].card for versions in self._versions.values()]

    def versions(self, card_id: str) -> Cards:
        """Every version of a card, oldest first (empty when the id is unknown)."""
        return [loaded.card for loaded in self._versions.get(card_id, [])]

    def get(self, ref: str) -> ModelCard:
        """The card ``id`` (its latest version) or ``id@version``."""
        card_id, _, version = ref.partition("@")
        versions = self._versions.get(card_id)
        if not versions:
            raise ModelNotFoundError(f"no model {card_id!r} in the {self.name}{self._suggest(card_id)}")
        if not version:
            return versions[-1].card
        for loaded in versions:
            if loaded.card.version == version:
                return loaded.card
        available = ", ".join(loaded.card.version for loaded in versions)
        raise ModelNotFoundError(f"model {card_id!r} has no version {version!r} (available: {available})")

    def search(self, query: str) -> Cards:
        """Latest cards whose id, name, anatomy, modality, task or tags contain every word of ``query``."""
        words = query.lower().split()
        return [card for card in self.list() if all(word in _haystack(card) for word in words)]

    def card_dir(self, card: ModelCard) -> Path | None:
        """The folder the card's file sources resolve against (None when unknown here or remote)."""
        for loaded in self._versions.get(card.id, []):
            if loaded.card.version == card.version:
                return loaded.folder
        return None

    def _suggest(self, card_id: str) -> str:
        close = difflib.get_close_matches(card_id, list(self._versions), n=3, cutoff=0.5)
        close += [known for known in self._versions if card_id and card_id in known and known not in close]
        return f"; did you mean: {', '.join(close[:3])}?" if close else ""


def _haystack(card: ModelCard) -> str:
    return " ".join([card.id, card.name, card.anatomy, card.modality, card.task, *card.tags]).lower()


class DirectoryRegistry(Registry):
    """A folder of cards: those its ``index.json`` lists (each pinned by sha256), else every ``*.json``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"registry at {path}"

    def _load(self) -> list[LoadedCard]:
        if not self.path.is_dir():
            raise InputError(f"{self.path}: no such registry folder")
        index = self.path / INDEX_NAME
        if index.is_file():
            loaded = [self._load_indexed(position, entry) for position, entry in enumerate(read_index(index))]
        else:
            loaded = [
                self._load_file(path.relative_to(self.path).as_posix()) for path in discover_cards(self.path)
            ]
        _refuse_duplicates(loaded)
        return loaded

    def _load_indexed(self, position: int, entry: IndexEntry) -> LoadedCard:
        try:
            path = resolve_inside(self.path, entry.path)
        except ValueError as error:
            raise CardError(
                str(self.path / INDEX_NAME), [Problem(f"$.cards[{position}].path", str(error))]
            ) from None
        card = _read_card(path, entry.sha256)
        check_entry(entry, card, path)
        return LoadedCard(card, str(path), path.parent)

    def _load_file(self, relative: str) -> LoadedCard:
        try:
            path = resolve_inside(self.path, relative)
        except ValueError as error:
            raise CardError(str(self.path / relative), [Problem("$", str(error))]) from None
        return LoadedCard(_read_card(path, None), str(path), path.parent)


def _read_card(path: Path, expected_sha256: str | None) -> ModelCard:
    """Parses the card from the very bytes that were hashed."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read the card ({error.strerror})") from None
    actual = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and actual != expected_sha256:
        raise IntegrityError(f"{path}: sha256 {actual} differs from the index ({expected_sha256})")
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CardError(str(path), [Problem("$", f"not valid JSON: {error}")]) from None
    return parse_card(document, str(path))


def _refuse_duplicates(loaded: list[LoadedCard]) -> None:
    first: dict[str, str] = {}
    for item in loaded:
        earlier = first.setdefault(item.card.ref, item.source)
        if earlier != item.source:
            raise CardError(
                item.source, [Problem("$.version", f"{item.card.ref} is also defined in {earlier}")]
            )


class EmbeddedRegistry(DirectoryRegistry):
    """The project's own registry, shipped inside the package (``deepinfer/_registry``)."""

    def __init__(self) -> None:
        super().__init__(embedded_registry_path())
        self.name = "embedded registry"


def embedded_registry_path() -> Path:
    return Path(str(files("deepinfer") / "_registry"))


def default_registry() -> Registry:
    """The registry the front ends use when none is named (for now: the embedded one)."""
    return EmbeddedRegistry()
