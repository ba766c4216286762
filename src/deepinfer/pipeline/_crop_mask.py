"""``crop_to_mask``: crop the image to the bounding box of a mask saved earlier, on whatever grid that mask has.

Two-stage models find a region on a coarse grid (a first network's mask) and run a second network on that
region of the full-resolution image. The box is measured on the mask's own grid, carried through world
coordinates onto the current grid (so the two grids may differ in size, spacing or orientation), widened by a
fraction of its size, and clipped to the image. The undo pads the crop back with ``fill``.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

from deepinfer._exceptions import PipelineError
from deepinfer.imaging import Geometry
from deepinfer.pipeline import _checks as check
from deepinfer.pipeline._base import FloatArray, PipelineState, PipelineStep
from deepinfer.pipeline._spatial import push_box

Edges = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]  # (first edge, last edge) per axis

# World coordinates carry rounding noise of ~1e-13 voxel; box edges are snapped to this many decimals first,
# so that an edge meant to lie exactly halfway rounds the same way on every platform.
EDGE_DECIMALS = 9


def mask_edges(mask: FloatArray, projection_threshold: float) -> Edges:
    """Per axis, the voxel edges around the indices whose mean over the other two axes exceeds the threshold.

    Edges are continuous indices (voxel ``i`` spans ``[i - 0.5, i + 0.5]``); the image is any channel > 0.
    """
    inside = np.any(mask > 0, axis=0)
    first, last = [], []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        found = np.flatnonzero(inside.mean(axis=others) > projection_threshold)
        if found.size == 0:
            raise PipelineError("crop_to_mask: the mask has no voxel above the projection threshold")
        first.append(found[0] - 0.5)
        last.append(found[-1] + 0.5)
    return np.asarray(first, dtype=np.float64), np.asarray(last, dtype=np.float64)


def map_edges(edges: Edges, source: Geometry, target: Geometry) -> Edges:
    """The box ``edges`` on ``source``, as the smallest axis-aligned box of continuous indices on ``target``."""
    corners = np.array(list(itertools.product(*zip(*edges, strict=True))), dtype=np.float64).T  # 3 × 8
    points = source.index_to_physical @ np.vstack([corners, np.ones((1, corners.shape[1]))])
    mapped = np.linalg.solve(target.index_to_physical, points)[:3]
    return np.round(mapped.min(axis=1), EDGE_DECIMALS), np.round(mapped.max(axis=1), EDGE_DECIMALS)


def widened_box(edges: Edges, margin: float, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Voxel ``[start, stop)`` of the box widened by ``margin`` × its size on each side, clipped to ``shape``.

    Centre and widened size (in voxels, from the outer edges) are rounded half to even and the box is
    ``[trunc(c - s/2), trunc(c + s/2))``, as deepbet computes its crop. The arithmetic is float32, as
    deepbet's, so that sizes landing exactly halfway (e.g. 23.75 voxels × 1.2) round the same way.
    """
    half = np.float32(0.5)
    low = (edges[0] + 0.5).astype(np.float32)  # voxel-edge coordinates: voxel i spans [i, i + 1]
    high = (edges[1] + 0.5).astype(np.float32)
    factor = np.float32(1) + np.float32(2) * np.float32(margin)
    centre = np.round((low + high) * half)
    size = np.round((high - low) * factor)
    start = np.trunc(centre - size * half).astype(np.int64)
    stop = np.trunc(centre + size * half).astype(np.int64)
    limit = np.asarray(shape, dtype=np.int64)
    return np.clip(start, 0, limit), np.clip(stop, 0, limit)


class CropToMask(PipelineStep):
    """Crop to the bounding box of the mask saved under ``slot`` (any channel > 0), mapped onto this grid.

    The box holds, per axis, the positions where the mask's mean over the other two axes exceeds
    ``projection_threshold`` (0: any mask voxel; a small fraction ignores thin stray parts). It is widened by
    ``margin`` × its size on each side and clipped to the image. The undo pads back with ``fill``.
    """

    name = "crop_to_mask"

    def __init__(self, *, slot: str, projection_threshold: float = 0.0, margin: float = 0.0, fill: float = 0.0) -> None:
        self.slot = check.member_name("slot", slot)
        self.projection_threshold = check.number("projection_threshold", projection_threshold, 0.0, 1.0)
        self.margin = check.number("margin", margin, 0.0, 10.0)
        self.fill = check.number("fill", fill)

    def apply(self, state: PipelineState) -> None:
        if self.slot not in state.slots:
            raise PipelineError(f"crop_to_mask: nothing was saved in slot {self.slot!r}")
        mask = state.slots[self.slot].image
        edges = map_edges(mask_edges(mask.data, self.projection_threshold), mask.geometry, state.image.geometry)
        start, stop = widened_box(edges, self.margin, state.image.geometry.size)
        if np.any(stop <= start):
            raise PipelineError(f"crop_to_mask: the mask in slot {self.slot!r} lies outside the image")
        push_box(state, self.name, start, stop, self.fill)
