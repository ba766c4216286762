"""How much memory a pipeline needs for an image, estimated before it runs, and the cap that refuses too much.

A small file can ask for a lot: a 621 KB ``.nii.gz`` of 512³ uint8 voxels (128 MiB declared) took 3.98 GB of
resident memory in the brain-extraction pipeline, because the steps hold several float32 copies of the volume
at once (the converted input, a saved slot, the cropped copy, the restored probability, labels, the mask).

The estimate is deliberately simple and errs high:

    input voxels × their bytes  +  COPIES × 4 bytes × the largest grid the pipeline works on

where the largest grid is the input's, or a ``resample`` step's (the input's physical extent over the step's
spacing: a fine spacing multiplies voxels), or a ``resize`` step's size, whichever holds most voxels. Crops are
ignored (they only shrink), networks' own memory is not counted. For 512³ uint8 it gives 4.4 GB (measured: 3.98).

The cap is ``DEEPINFER_MAX_WORKING_BYTES`` (bytes), by default half of this machine's physical memory.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

from deepinfer._exceptions import InputError
from deepinfer.imaging import Volume

COPIES = 8
"""float32 copies of the largest grid that live at once (7 measured in the brain-extraction pipeline, plus one)."""
SETTING = "DEEPINFER_MAX_WORKING_BYTES"
_FALLBACK_CAP = 8 * 2**30


def max_working_bytes() -> int:
    """The most working memory one run may need (``DEEPINFER_MAX_WORKING_BYTES``, else half the physical memory)."""
    configured = os.environ.get(SETTING, "").strip()
    if configured.isdigit():
        return int(configured)
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return _FALLBACK_CAP


def largest_grid(volume: Volume, steps: Iterable[Any]) -> int:
    """Voxels of the largest grid among the input's and those ``resample``/``resize`` steps produce."""
    return _largest_grid(volume.geometry.size, volume.geometry.spacing, steps)


def _largest_grid(size: Sequence[int], spacing: Sequence[float], steps: Iterable[Any]) -> int:
    extent = math.prod(n * s for n, s in zip(size, spacing, strict=True))
    grids = [math.prod(size)]
    for step in steps:
        if step.name == "resample":
            grids.append(math.ceil(extent / math.prod(step.spacing)))
        elif step.name == "resize":
            grids.append(math.prod(step.size))
    return max(grids)


def estimate_working_bytes(
    size: Sequence[int], spacing: Sequence[float], input_bytes: int, steps: Iterable[Any]
) -> int:
    """The estimated peak memory of running ``steps`` on an image of ``size`` voxels at ``spacing`` mm whose
    voxels take ``input_bytes``, known from its header alone (batch runs bound their workers with it)."""
    return input_bytes + COPIES * 4 * _largest_grid(size, spacing, steps)


def working_bytes(volume: Volume, steps: Iterable[Any]) -> int:
    """The estimated peak memory of running ``steps`` on ``volume`` (see the module's docstring)."""
    geometry = volume.geometry
    return estimate_working_bytes(geometry.size, geometry.spacing, volume.array.nbytes, steps)


def check_working_memory(name: str, source: object, volume: Volume, steps: Iterable[Any]) -> None:
    """Refuse (exit 3) an input whose estimated working memory passes the cap, before the pipeline runs."""
    needed = working_bytes(volume, list(steps))
    cap = max_working_bytes()
    if needed > cap:
        size = "×".join(str(n) for n in volume.geometry.size)
        raise InputError(
            f"{source}: this model would need about {needed / 2**30:.1f} GiB of memory for this image "
            f"(input {name}, size {size}), more than the {cap / 2**30:.1f} GiB allowed ({SETTING})"
        )
