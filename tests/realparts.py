"""Where the real test parts are, and the CI rule: a missing real part skips locally and fails in CI.

Import it as ``from realparts import require`` (a unique module name, unlike ``conftest``)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

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


def need(module: str, reason: str = "") -> ModuleType:
    """The module ``module``, or (as :func:`require`) a local skip and a CI failure when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        require(False, reason or f"needs the package that provides {module!r}")
        raise  # not reached: require() skips or fails


T2_LIKE_SPACING = (0.7, 0.6, 0.5)  # mm: the head then fills a pelvis-sized field of view


def write_t2_like(colin27: Path, path: Path) -> Path:
    """A real MR probe the TAPS prostate network responds to (it finds nothing in a T1 brain).

    A 140×160×161 block of Colin27 with intensities inverted (255 − v where v > 0, background 1), a T2-like
    contrast where fluid is bright, declared at a smaller voxel size. Real MR voxels; not a prostate."""
    import numpy as np
    import SimpleITK as sitk

    image = sitk.ReadImage(str(colin27))[25:165, 0:160, 20:181]
    array = sitk.GetArrayFromImage(image)
    inverted = sitk.GetImageFromArray(np.where(array > 0, 255 - array, 1).astype(np.uint8))
    inverted.SetOrigin(image.GetOrigin())
    inverted.SetDirection(image.GetDirection())
    inverted.SetSpacing(T2_LIKE_SPACING)
    sitk.WriteImage(inverted, str(path))
    return path
