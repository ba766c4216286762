"""The summaries of the cards this machine has validated, kept between runs (``<home>/card-summaries.json``).

Listing models needs a few fields of each card, but validating a card builds the pydantic card models, which
costs more than the rest of ``deepinfer models list`` together. So a registry reads a card's bytes, and when a
card with the same sha256 was validated before by the same card code, it takes the summary kept then and
validates the whole card only when it is used (:attr:`LoadedCard.card`). A card whose bytes were never
validated is validated at once, as before: a listed card is always one whose exact bytes passed validation.

The file is keyed by the card code's fingerprint (deepinfer's version and the size and modification time of
the ``deepinfer.card`` modules), so a new or edited deepinfer validates every card again. It is read as
untrusted input: anything malformed is ignored and rewritten, never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import deepinfer
import deepinfer.card
from deepinfer._files import write_atomic
from deepinfer.card import SHA256, CardSummary
from deepinfer.registry._index import card_from_bytes

if TYPE_CHECKING:
    from deepinfer.card import ModelCard

logger = logging.getLogger("deepinfer.registry")
SUMMARIES_NAME = "card-summaries.json"
MAX_SUMMARIES_BYTES = 8 << 20
MAX_SUMMARIES = 10_000


@dataclass(frozen=True)
class LoadedCard:
    """A registry's card with where it came from: its summary at once, the whole validated card on first use."""

    summary: CardSummary
    source: str
    """Where the card came from (a file path or URL), for error messages."""
    folder: Path | None
    """The folder the card's file sources resolve against (None: the card may not use file sources)."""
    parse: Callable[[], ModelCard] = field(repr=False, compare=False)
    """Builds the validated card (called once, on first use of :attr:`card`)."""

    @classmethod
    def of(cls, card: ModelCard, source: str, folder: Path | None) -> LoadedCard:
        """A card that is validated already."""
        loaded = cls(CardSummary.of(card), source, folder, lambda: card)
        loaded.__dict__["card"] = card  # what the cached property would store on first use
        return loaded

    @cached_property
    def card(self) -> ModelCard:
        return self.parse()


def card_code_fingerprint() -> str:
    """What the validation of a card depends on: deepinfer's version and its card modules (size, mtime)."""
    folder = Path(deepinfer.card.__file__).parent
    parts = [deepinfer.__version__]
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.endswith(".py"):
                status = entry.stat()
                parts.append(f"{entry.name}:{status.st_size}:{status.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


class SummaryCache:
    """The summaries kept in ``<home>/card-summaries.json``, by the sha256 of the card file's bytes."""

    def __init__(self, home: Path | None) -> None:
        self.path = home / SUMMARIES_NAME if home is not None else None
        """None: nothing is kept (every card is validated as it is read)."""
        self._dirty = False

    @cached_property
    def _fingerprint(self) -> str:
        return card_code_fingerprint()

    @cached_property
    def _summaries(self) -> dict[str, CardSummary]:
        if self.path is None:
            return {}
        try:
            with self.path.open("rb") as handle:
                data = handle.read(MAX_SUMMARIES_BYTES + 1)
            document = json.loads(data.decode("utf-8")) if len(data) <= MAX_SUMMARIES_BYTES else None
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            return {}
        return _parse(document, self._fingerprint)

    def read(self, data: bytes, sha256: str, source: str, folder: Path | None) -> LoadedCard:
        """The card in ``data`` (whose sha256 the caller computed): validated now unless its summary is kept."""
        summary = self._summaries.get(sha256)
        if summary is not None:
            return LoadedCard(summary, source, folder, lambda: card_from_bytes(data, source))
        loaded = LoadedCard.of(card_from_bytes(data, source), source, folder)
        if self.path is not None and len(self._summaries) < MAX_SUMMARIES:
            self._summaries[sha256] = loaded.summary
            self._dirty = True
        return loaded

    def save(self) -> None:
        """Writes the summaries when cards were validated since they were read (a failure only logs)."""
        if not self._dirty or self.path is None:
            return
        document = {
            "fingerprint": self._fingerprint,
            "cards": {sha256: summary.to_record() for sha256, summary in sorted(self._summaries.items())},
        }
        try:
            write_atomic(self.path, (json.dumps(document, indent=1) + "\n").encode("utf-8"))
        except OSError as error:
            logger.debug("card summaries not kept in %s: %s", self.path, error)
        self._dirty = False


def _parse(document: Any, fingerprint: str) -> dict[str, CardSummary]:
    if not isinstance(document, dict) or document.get("fingerprint") != fingerprint:
        return {}
    cards = document.get("cards")
    if not isinstance(cards, dict):
        return {}
    summaries: dict[str, CardSummary] = {}
    for sha256, record in list(cards.items())[:MAX_SUMMARIES]:
        with contextlib.suppress(ValueError):
            if isinstance(sha256, str) and _is_sha256(sha256):
                summaries[sha256] = CardSummary.from_record(record)
    return summaries


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and re.match(SHA256, text) is not None
