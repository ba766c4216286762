"""Agreement measures used wherever two results are compared (export checks, card tests, the demo)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def dice(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    """Dice of the nonzero voxels of two arrays (1 when both are empty)."""
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(a & b)) / total


def max_abs_diff(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    """Largest absolute voxel difference (arrays of one shape)."""
    if a.shape != b.shape:
        raise ValueError(f"cannot compare arrays of shapes {a.shape} and {b.shape}")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
