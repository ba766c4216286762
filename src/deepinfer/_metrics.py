"""Agreement measures used wherever two results are compared (export checks, card tests, the demo)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt


def dice(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    """Dice of the nonzero voxels of two arrays (1 when both are empty)."""
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(a & b)) / total


def label_dice(actual: npt.NDArray[Any], expected: npt.NDArray[Any], labels: Sequence[int]) -> float:
    """Mean Dice over a card's label values. With a single label, every nonzero voxel of ``expected`` counts
    as that label, so a reference given as a masked image (e.g. a skull-stripped brain) is its own mask."""
    if len(labels) == 1:
        return dice(actual == labels[0], expected)
    scores = [
        dice(actual == value, expected == value)
        for value in labels
        if np.any(actual == value) or np.any(expected == value)
    ]
    return float(np.mean(scores)) if scores else 1.0


def max_abs_diff(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    """Largest absolute voxel difference (arrays of one shape)."""
    if a.shape != b.shape:
        raise ValueError(f"cannot compare arrays of shapes {a.shape} and {b.shape}")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
