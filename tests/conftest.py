"""Shared fixtures: real images, the real artifact store, and the CI rule (a missing real part fails in CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def colin27() -> Path:
    """Colin27 T1 with skull (Debian package mricron-data)."""
    require(COLIN27.is_file(), "Colin27 needs the Debian package mricron-data (apt-get install mricron-data)")
    return COLIN27


@pytest.fixture(scope="session")
def colin27_brain() -> Path:
    require(COLIN27_BRAIN.is_file(), "ch2bet needs the Debian package mricron-data")
    return COLIN27_BRAIN


@pytest.fixture(scope="session")
def legacy_registry() -> Path:
    """The ten 2017 DeepInfer registry files (shared/deepinfer-registry beside the checkout)."""
    require(REGISTRY_2017.is_dir(), f"the 2017 registry files are expected at {REGISTRY_2017}")
    return REGISTRY_2017


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One artifact cache for the whole session, so real weights are fetched once per test run.

    Set DEEPINFER_TEST_HOME to reuse a cache across local runs."""
    configured = os.environ.get("DEEPINFER_TEST_HOME")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("deepinfer-home")


@pytest.fixture
def deepinfer_home(shared_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("DEEPINFER_HOME", str(shared_home))
    yield shared_home
