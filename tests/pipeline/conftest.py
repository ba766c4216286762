"""Small volumes for step tests: a Colin27 sub-volume (real MR) and hand-made grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepinfer.imaging import Geometry, Volume, read_volume


@pytest.fixture(scope="session")
def colin_volume(colin27: Path) -> Volume:
    return read_volume(colin27)


@pytest.fixture(scope="session")
def small_mr(colin_volume: Volume) -> Volume:
    """A 60×70×50 block of Colin27 around the ventricles, on its own (LPS-flipped) grid."""
    start = (60, 80, 70)
    size = (60, 70, 50)
    block = colin_volume.array[tuple(slice(s, s + n) for s, n in zip(start, size, strict=True))]
    geometry = colin_volume.geometry
    origin = geometry.index_to_physical @ np.array([*start, 1.0])
    return Volume(np.ascontiguousarray(block), Geometry(tuple(origin[:3]), geometry.spacing, geometry.direction, size))


@pytest.fixture
def odd_grid() -> Volume:
    """A synthetic volume on a permuted, flipped, anisotropic grid (i → superior, j → left, k → anterior)."""
    direction = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    rng = np.random.default_rng(7)
    array = rng.normal(100.0, 20.0, size=(12, 9, 7)).astype(np.float32)
    geometry = Geometry((10.0, -20.0, 30.5), (2.0, 0.7, 1.3), tuple(direction.ravel()), (12, 9, 7))
    return Volume(array, geometry)
