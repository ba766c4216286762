"""Where the real test parts are, and the CI rule: a missing real part skips locally and fails in CI.

Import it as ``from realparts import require`` (a unique module name, unlike ``conftest``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
COLIN27_BRAIN = Path("/usr/share/mricron/templates/ch2bet.nii.gz")
REGISTRY_2017 = Path(__file__).resolve().parents[1].parent / "shared" / "deepinfer-registry"


def require(condition: bool, reason: str) -> None:
    """Skip locally when a heavy real part is absent; in CI the same absence is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required real part missing in CI: {reason}")
    pytest.skip(reason)
