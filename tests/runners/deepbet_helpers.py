"""deepbet's real TorchScript nets (inside the installed deepbet wheel) and a real input for them."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from realparts import require

BBOX_SHAPE = (1, 1, 128, 128, 128)


def deepbet_model(name: str) -> Path:
    """``data/models/NAME`` of the installed deepbet distribution (skip locally / fail in CI when absent)."""
    require(importlib.util.find_spec("torch") is not None, "the TorchScript tests need torch (deepinfer[torch])")
    try:
        files = importlib.metadata.files("deepbet") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    found = [Path(str(f.locate())) for f in files if str(f).replace("\\", "/") == f"data/models/{name}"]
    require(bool(found) and found[0].is_file(), f"deepbet==1.0.2 (pip install --no-deps) ships {name}")
    return found[0]


def colin27_batch(colin27: Path, size: int = 128) -> npt.NDArray[np.float32]:
    """Colin27 resampled (linear) onto a size³ grid over the same field of view, z-scored, as (1, 1, X, Y, Z)."""
    import SimpleITK

    sitk: Any = SimpleITK  # untyped
    image = sitk.Cast(sitk.ReadImage(str(colin27)), sitk.sitkFloat32)
    old_size = np.asarray(image.GetSize(), dtype=np.float64)
    spacing = np.asarray(image.GetSpacing()) * old_size / size
    resampled = sitk.Resample(
        image,
        [size] * 3,
        sitk.Transform(),
        sitk.sitkLinear,
        image.GetOrigin(),
        spacing.tolist(),
        image.GetDirection(),
        0.0,
        sitk.sitkFloat32,
    )
    voxels = sitk.GetArrayFromImage(resampled).T  # [i, j, k], as deepinfer's Volume
    voxels = (voxels - voxels.mean()) / voxels.std()
    return np.ascontiguousarray(voxels[None, None], dtype=np.float32)
