"""The smallest valid v2 model card, as a JSON document the tests change field by field.

Import it as ``from card_documents import minimal_card`` (a unique module name, unlike ``conftest``)."""

from __future__ import annotations

from typing import Any


def minimal_card(card_id: str = "tiny", version: str = "1.0.0", **fields: Any) -> dict[str, Any]:
    """A card with one volume input, one probability-map output and a one-step pipeline; ``fields`` replace
    or add top-level keys."""
    document: dict[str, Any] = {
        "id": card_id,
        "name": card_id.replace("-", " ").title(),
        "version": version,
        "task": "segmentation",
        "modality": "MR",
        "anatomy": "prostate",
        "license": {"code": "MIT", "weights": "MIT"},
        "inputs": [{"name": "image", "type": "volume"}],
        "outputs": [{"name": "mask", "type": "probability_map"}],
        "runtime": {"type": "onnx"},
        "pipeline": [{"step": "output", "params": {"name": "mask"}}],
    }
    document.update(fields)
    return document
