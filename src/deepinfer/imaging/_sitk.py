"""The one place SimpleITK is imported: lazily, so that ``import deepinfer`` stays fast.

SimpleITK's own type information is partial, so the module is handed out as ``Any``."""

from __future__ import annotations

import importlib
from typing import Any


def simpleitk() -> Any:
    """The SimpleITK module (imported on first use)."""
    return importlib.import_module("SimpleITK")
