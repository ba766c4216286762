"""Fixtures of the imaging tests: Colin27 (Debian mricron-data) read once, and small real crops of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from imaging_helpers import crop

from deepinfer.imaging import Volume, read_volume


@pytest.fixture(scope="session")
def colin27_volume(colin27: Path) -> Volume:
    """Colin27 as read (uint8, 181×217×181, 1 mm, LPS direction diag(-1, -1, 1)). Do not modify."""
    volume = read_volume(colin27)
    volume.array.flags.writeable = False
    return volume


@pytest.fixture(scope="session")
def colin27_head(colin27_volume: Volume) -> Volume:
    """A 48×56×20 int16 crop through the middle of the head: small enough for every format and DICOM."""
    region = crop(colin27_volume, (66, 80, 80), (48, 56, 20))
    return region.with_array(region.array.astype(np.int16))
