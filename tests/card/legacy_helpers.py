"""Names shared by the card tests (a module of its own: conftest modules are not imported by tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LEGACY_FILES = (
    "CTBoneSegmenter.json",
    "ExampleThreshold.json",
    "LymphNodeSegmenter.gpu.json",
    "LymphNodeSegmenter.json",
    "NeedleFinder-cpu.json",
    "NeedleFinder-gpu.json",
    "ProstateNeedleFinder.json",
    "ProstateSegmenter.json",
    "ProstateSegmenterLegacy.json",
    "WMHSegmenterK2MICCAI2017.json",
)

LegacyDocument = Callable[[str], dict[str, Any]]
