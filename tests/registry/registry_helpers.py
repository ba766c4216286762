"""Plain helpers of the registry tests: minimal valid v2 cards written into folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def card(card_id: str, version: str = "1.0.0", **fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": card_id,
        "name": card_id.replace("-", " ").title(),
        "version": version,
        "task": "segmentation",
        "modality": "MR",
        "anatomy": "prostate",
        "license": {"code": "MIT", "weights": "CC-BY-4.0"},
        "inputs": [{"name": "image", "type": "volume"}],
        "outputs": [{"name": "mask", "type": "probability_map"}],
        "runtime": {"type": "onnx"},
        "pipeline": [{"step": "output", "params": {"name": "mask"}}],
    }
    document.update(fields)
    return document


def write_card(folder: Path, relative: str, document: dict[str, Any]) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
