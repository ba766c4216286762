"""The committed JSON Schema of the model card equals the one generated from the pydantic models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from deepinfer.card import ModelCard, card_json_schema, schema_text

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "model-card.schema.json"
REGENERATE = "python -m deepinfer.card._schema > schemas/model-card.schema.json"


def test_committed_schema_is_the_generated_one() -> None:
    assert SCHEMA_FILE.is_file(), f"schemas/model-card.schema.json is missing; run: {REGENERATE}"
    committed = SCHEMA_FILE.read_text(encoding="utf-8")

    assert committed == schema_text(), f"schemas/model-card.schema.json is stale; run: {REGENERATE}"


def test_the_schema_declares_its_dialect_and_identity() -> None:
    schema = card_json_schema()

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("urn:deepinfer:model-card:")
    assert "model card" in schema["title"]
    assert set(schema["properties"]) == set(ModelCard.model_fields)
    assert schema["additionalProperties"] is False


def test_schema_text_is_canonical() -> None:
    text = schema_text()

    assert text.endswith("}\n") and text.isascii()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_the_module_prints_the_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deepinfer.card._schema"],
        capture_output=True,
        encoding="utf-8",
        check=True,
        timeout=60,
    )

    assert result.stdout == schema_text()
