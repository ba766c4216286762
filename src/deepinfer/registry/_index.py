"""The registry index: which card files a folder holds, each pinned by the sha256 of the file.

    {"schema_version": "2.0",
     "cards": [{"id": "prostate-taps", "version": "1.0.0", "path": "cards/prostate-taps.json",
                "sha256": "<sha256 of the card file>"}]}

:func:`build_index` computes it from the cards in a folder; a test keeps the committed embedded index equal.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepinfer._exceptions import CardError, InputError, Problem
from deepinfer._files import write_atomic
from deepinfer.card import CARD_SCHEMA_VERSION, SEMVER, SHA256, CardSummary

if TYPE_CHECKING:
    from deepinfer.card import ModelCard

INDEX_NAME = "index.json"
MAX_INDEX_BYTES = 16 << 20
MAX_CARD_BYTES = 2 << 20
_ENTRY_KEYS = ("id", "version", "path", "sha256")

CardCheck = Callable[["ModelCard"], list[Problem]]
"""A check of a whole card beyond its schema (the pipeline layer's ``validate_card_pipeline``: step names, step
parameters, artifact and parameter references). The registry layer cannot know the steps, so the front ends
hand it in where a registry is published or added; browsing (``models list``) checks the schema only."""


@dataclass(frozen=True)
class IndexEntry:
    id: str
    version: str
    path: str
    sha256: str


def version_key(version: str) -> tuple[Any, ...]:
    """Sort key following semver precedence (a pre-release sorts before its release)."""
    match = re.match(SEMVER, version)
    if match is None:
        return ((-1, -1, -1), 0, ())
    release = tuple(int(part) for part in match.groups())
    core = version.split("+", 1)[0]
    pre = core.split("-", 1)[1] if "-" in core else None
    if pre is None:
        return (release, 1, ())
    identifiers = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (release, 0, identifiers)


def discover_cards(folder: Path) -> list[Path]:
    """Every ``*.json`` file below ``folder`` except the index, without following symlinked folders."""
    found: list[Path] = []
    for directory, subdirectories, files in os.walk(folder):
        subdirectories.sort()
        found.extend(Path(directory) / name for name in sorted(files) if name.endswith(".json"))
    return [path for path in found if path != folder / INDEX_NAME]


def card_from_bytes(data: bytes, source: str) -> ModelCard:
    """The card in ``data``: a v2 card, or a 2017 DeepInfer description imported on the fly."""
    from deepinfer.card import import_legacy, looks_like_legacy, parse_card  # the card models: only when parsing

    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise CardError(source, [Problem("$", f"not valid JSON: {error}")]) from None
    if looks_like_legacy(document):
        return import_legacy(document, source)[0]
    return parse_card(document, source)


def read_card_file(path: Path) -> tuple[ModelCard, str]:
    """The card in the file ``path`` and the sha256 of the very bytes it was parsed from."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read the card ({error.strerror})") from None
    return card_from_bytes(data, str(path)), hashlib.sha256(data).hexdigest()


def check_cards(cards: Iterable[tuple[str, ModelCard]], check: CardCheck, where: str) -> None:
    """One :class:`CardError` listing every problem ``check`` finds in any of ``cards`` (source, card); each
    problem's path starts with the card's file name."""
    problems = [
        Problem(f"{Path(source).name} {problem.path}", problem.message)
        for source, card in cards
        for problem in check(card)
    ]
    if problems:
        raise CardError(where, problems)


def build_index(folder: Path, check: CardCheck | None = None) -> dict[str, Any]:
    """The index document of the cards in ``folder`` (sorted by id, then version); 2017 files are included.
    With ``check``, a card it finds problems in refuses the whole index (every problem in one report)."""
    entries, cards = [], []
    for path in discover_cards(folder):
        card, sha256 = read_card_file(path)
        relative = path.relative_to(folder).as_posix()
        entries.append(IndexEntry(card.id, card.version, relative, sha256))
        cards.append((str(path), card))
    if check is not None:
        check_cards(cards, check, str(folder))
    entries.sort(key=lambda e: (e.id, version_key(e.version)))
    return {"schema_version": CARD_SCHEMA_VERSION, "cards": [vars(entry) for entry in entries]}


def write_index(folder: Path, check: CardCheck | None = None) -> Path:
    """Writes ``folder/index.json`` from the cards in the folder (nothing is written when a card is refused)."""
    path = folder / INDEX_NAME
    write_atomic(path, (json.dumps(build_index(folder, check), indent=2) + "\n").encode("utf-8"))
    return path


def read_index(path: Path) -> list[IndexEntry]:
    """The entries of an index file; a malformed index raises CardError naming the file and the entry."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CardError(str(path), [Problem("$", f"unreadable index ({error})")]) from None
    return parse_index(data, str(path))


def parse_index(data: bytes, source: str) -> list[IndexEntry]:
    """The entries of the index document ``data``; ``source`` (a path or URL) names it in errors."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise CardError(source, [Problem("$", f"unreadable index ({error})")]) from None
    if not isinstance(document, dict) or not isinstance(document.get("cards"), list):
        raise CardError(source, [Problem("$", "an index is an object with a 'cards' list")])
    if document.get("schema_version") != CARD_SCHEMA_VERSION:
        problem = Problem("$.schema_version", f"expected {CARD_SCHEMA_VERSION!r}")
        raise CardError(source, [problem])
    problems = [p for i, item in enumerate(document["cards"]) for p in _entry_problems(i, item)]
    if problems:
        raise CardError(source, problems)
    return [IndexEntry(**{key: item[key] for key in _ENTRY_KEYS}) for item in document["cards"]]


def _entry_problems(index: int, item: Any) -> list[Problem]:
    where = f"$.cards[{index}]"
    if not isinstance(item, dict):
        return [Problem(where, "an entry is an object")]
    problems = [
        Problem(f"{where}.{key}", "missing or not a string")
        for key in _ENTRY_KEYS
        if not isinstance(item.get(key), str)
    ]
    if not problems and not re.match(SHA256, item["sha256"]):
        problems.append(Problem(f"{where}.sha256", "not a lowercase hex sha256"))
    return problems


def check_entry(entry: IndexEntry, card: CardSummary, path: Path | str) -> None:
    """The card a (verified) index entry points at must be the id and version the entry announces."""
    if (card.id, card.version) != (entry.id, entry.version):
        problem = Problem("$.id", f"the index lists {entry.id}@{entry.version}, the file holds {card.ref}")
        raise CardError(str(path), [problem])
