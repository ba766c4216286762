"""Card validation that reports every problem (JSON path + message) instead of stopping at the first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from deepinfer._exceptions import CardError, InputError, Problem
from deepinfer.card._model import ModelCard


def json_path(location: tuple[int | str, ...], document: Any = None) -> str:
    """pydantic's error location → a JSON path such as ``$.inputs[0].labels``.

    For tagged unions pydantic inserts the tag (``"labelmap"``) into the location; walking the document
    tells a tag (the node's ``type``/``kind`` value, absent as a key) from a real field name.
    """
    path = "$"
    node = document
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
            continue
        if isinstance(node, dict) and part not in node and part in (node.get("type"), node.get("kind")):
            continue
        path += f".{part}"
        node = node.get(part) if isinstance(node, dict) else None
    return path


def validate_card(data: Any) -> list[Problem]:
    """Every schema problem of a card document (an empty list: the document is a v2 card).

    The schema only: step names, step parameters and the artifacts and card parameters the steps refer to
    need the pipeline's step classes, a layer above; ``deepinfer.pipeline.validate_card_document`` adds them
    (``deepinfer card validate`` runs it). Registries load cards with this check (``parse_card``).
    """
    if not isinstance(data, dict):
        return [Problem("$", f"a card is a JSON object, got {type(data).__name__}")]
    try:
        ModelCard.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            message = item["msg"].removeprefix("Value error, ")
            problems.append(Problem(json_path(tuple(item["loc"]), data), message))
        return problems
    return []


def parse_card(data: Any, source: str = "card") -> ModelCard:
    """A validated card, or :class:`CardError` listing every problem."""
    problems = validate_card(data)
    if problems:
        raise CardError(source, problems)
    return ModelCard.model_validate(data)


def read_card_json(path: Path) -> Any:
    """The JSON document of a card file, with clear errors for a missing or malformed file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read the file ({error.__class__.__name__})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CardError(str(path), [Problem("$", f"not valid JSON: {error.msg} at line {error.lineno}")]) from None


def load_card(path: Path) -> ModelCard:
    return parse_card(read_card_json(path), str(path))


def dump_card(card: ModelCard) -> str:
    """Canonical JSON text of a card (defaults omitted only where they are None)."""
    return json.dumps(card.model_dump(mode="json", exclude_none=True), indent=2, ensure_ascii=False) + "\n"
