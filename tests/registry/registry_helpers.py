"""Plain helpers of the registry tests: minimal valid v2 cards written into folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from card_documents import minimal_card


def card(card_id: str, version: str = "1.0.0", **fields: Any) -> dict[str, Any]:
    return minimal_card(card_id, version, **fields)


def write_card(folder: Path, relative: str, document: dict[str, Any]) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
