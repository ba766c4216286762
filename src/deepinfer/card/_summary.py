"""The short, machine-readable summary of a card: one row of ``models list --json`` and of the server's model
list."""

from __future__ import annotations

from typing import Any

from deepinfer.card._model import ModelCard


def card_summary(card: ModelCard) -> dict[str, Any]:
    """The machine-readable row of ``models list --json``."""
    return {
        "id": card.id,
        "name": card.name,
        "version": card.version,
        "task": card.task,
        "modality": card.modality,
        "anatomy": card.anatomy,
        "license": {"code": card.license.code, "weights": card.license.weights},
        "size": card.total_artifact_size(),
        "runtime": card.runtime.type,
        "tags": list(card.tags),
    }
