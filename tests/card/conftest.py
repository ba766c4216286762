"""Fixtures of the card tests: the ten 2017 DeepInfer registry documents, fresh for every test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from legacy_helpers import LegacyDocument


@pytest.fixture
def legacy_document(legacy_registry: Path) -> LegacyDocument:
    """A fresh dict of one 2017 file, safe to modify in the test."""

    def load(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((legacy_registry / name).read_text(encoding="utf-8"))
        return data

    return load
