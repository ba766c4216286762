"""The card's patterns and schema version: plain values, so that a registry can check an index without
building the pydantic card models."""

from __future__ import annotations

from typing import Final

CARD_SCHEMA_VERSION: Final = "2.0"
SEMVER: Final = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
SHA256: Final = r"^[0-9a-f]{64}$"
