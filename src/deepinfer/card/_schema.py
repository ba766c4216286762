"""JSON Schema of the model card, generated from the pydantic models.

The committed ``schemas/model-card.schema.json`` must equal :func:`schema_text`; regenerate it with::

    python -m deepinfer.card._schema > schemas/model-card.schema.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from deepinfer.card._constants import CARD_SCHEMA_VERSION
from deepinfer.card._model import ModelCard

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = f"urn:deepinfer:model-card:{CARD_SCHEMA_VERSION}"


def card_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a version 2 model card."""
    schema = ModelCard.model_json_schema(mode="validation")
    schema["title"] = f"DeepInfer model card {CARD_SCHEMA_VERSION}"
    schema["description"] = "A trained medical-imaging model: identity, typed inputs and outputs, runtime."
    return {"$schema": SCHEMA_DIALECT, "$id": SCHEMA_ID, **schema}


def schema_text() -> str:
    """Canonical text of the schema: indent 2, sorted keys, ASCII, trailing newline."""
    return json.dumps(card_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_text())
