"""The command-line name of a card parameter (shared by ``run``, ``batch`` and the Slicer module's help)."""

from __future__ import annotations

import re

COMMON = {
    "input", "output", "threads", "progress", "report", "server", "token", "help", "runtime", "precision", "series"
}  # fmt: skip
"""Options every generated ``run`` command has; a card parameter with one of these names gets ``param-``."""


def option_name(parameter: str) -> str:
    """``OutputSmoothing`` → ``output-smoothing``; a name that clashes with a common option gets ``param-``."""
    kebab = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", parameter).replace("_", "-").lower()
    return f"param-{kebab}" if kebab in COMMON else kebab
