"""Shared fixtures: real images, the real artifact store, the session's Ray cluster, and the CI rule (a missing real
part fails in CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ray_cluster import RayCluster, loopback_cluster
from realparts import COLIN27, COLIN27_BRAIN, REGISTRY_2017, need, require


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
def colin27_crop(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real MR volume small enough for a network test: a 96×96×80 mm box of Colin27 (one or two TAPS windows)."""
    import SimpleITK as sitk

    image = sitk.ReadImage(str(colin27))
    crop = image[42:138, 60:156, 50:130]
    path = tmp_path_factory.mktemp("mr") / "colin27_crop.nii.gz"
    sitk.WriteImage(crop, str(path))
    return path


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


@pytest.fixture(scope="session")
def ray_session_cluster(shared_home: Path) -> Iterator[RayCluster]:
    """One real Ray cluster on loopback for every Ray test of the session (batch and server): a head node that
    runs no actor (0 CPUs: a test may kill any other node) and two nodes of one CPU each, the nodes' DEEPINFER_HOME
    the session's artifact cache. Stopped by its PIDs at the end of the session. Tests take it as ``ray_cluster``."""
    need("ray", "the Ray tests need Ray (pip install 'deepinfer[ray]')")
    with loopback_cluster(shared_home, cpus=(0, 1, 1)) as cluster:
        yield cluster


@pytest.fixture
def ray_cluster(ray_session_cluster: RayCluster) -> RayCluster:
    """The session's Ray cluster with two nodes besides the head when the test starts: a node that a test before
    killed is replaced here, by the test that needs it (the last test to kill one starts none)."""
    while len(ray_session_cluster.live_workers()) < 2:
        ray_session_cluster.start_node()
    return ray_session_cluster
