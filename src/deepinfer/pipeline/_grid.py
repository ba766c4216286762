"""Grid arithmetic shared by the spatial steps: orientation, sub-grids, new spacings, resampling.

All geometry is ITK's (LPS world): index ``(i, j, k)`` → point ``origin + D @ (spacing * index)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from deepinfer.imaging import Geometry, Volume, volume_from_sitk, volume_to_sitk

FloatArray = npt.NDArray[np.float32]

# Orientation letters in nibabel's sense (the direction an index axis points *to*), in the LPS world:
# letter → (world axis, sign). nibabel's "RAS" is an image whose i axis points to the patient's right.
ORIENTATION_LETTERS = {"L": (0, 1), "R": (0, -1), "P": (1, 1), "A": (1, -1), "S": (2, 1), "I": (2, -1)}

INTERPOLATIONS = ("linear", "nearest", "bspline")
OUTSIDE_MODES = ("nearest", "constant")


def _triple(values: Sequence[float] | npt.NDArray[np.float64]) -> tuple[float, float, float]:
    return (float(values[0]), float(values[1]), float(values[2]))


def axis_directions(direction: npt.NDArray[np.float64]) -> list[tuple[int, int]]:
    """For each index axis, the world axis it is closest to and the sign along it.

    Greedy on the largest absolute cosine first (nibabel's ``io_orientation`` does the same), so every index
    axis gets a different world axis even for oblique directions.
    """
    remaining = np.abs(direction)
    found: dict[int, tuple[int, int]] = {}
    for _ in range(3):
        world, axis = np.unravel_index(int(np.argmax(remaining)), remaining.shape)
        found[int(axis)] = (int(world), 1 if direction[world, axis] >= 0 else -1)
        remaining[world, :] = -1.0
        remaining[:, axis] = -1.0
    return [found[axis] for axis in range(3)]


def orientation_code(geometry: Geometry) -> str:
    """The nibabel-style code of a grid, e.g. ``"RAS"`` or ``"LPS"``."""
    by_axis_sign = {value: letter for letter, value in ORIENTATION_LETTERS.items()}
    return "".join(by_axis_sign[pair] for pair in axis_directions(geometry.direction_matrix))


@dataclass(frozen=True)
class Reorientation:
    """How to turn an array on one grid into the same voxels on a grid with another orientation code."""

    permutation: tuple[int, int, int]  # new axis t takes old axis permutation[t]
    flips: tuple[bool, bool, bool]  # whether new axis t runs backwards along old axis permutation[t]
    target: Geometry

    @property
    def flipped_axes(self) -> tuple[int, ...]:
        return tuple(1 + t for t in range(3) if self.flips[t])

    def forward(self, data: FloatArray) -> FloatArray:
        moved = np.transpose(data, (0, *(1 + a for a in self.permutation)))
        flipped = np.flip(moved, axis=self.flipped_axes)
        return np.ascontiguousarray(flipped)

    def backward(self, data: FloatArray) -> FloatArray:
        unflipped = np.flip(data, axis=self.flipped_axes)
        inverse = np.argsort(self.permutation)
        return np.ascontiguousarray(np.transpose(unflipped, (0, *(1 + int(a) for a in inverse))))


def reorientation(geometry: Geometry, code: str) -> Reorientation:
    """Axis permutation and flips from ``geometry`` to orientation ``code`` (no resampling, exact)."""
    current = axis_directions(geometry.direction_matrix)
    old_axis_of_world = {world: axis for axis, (world, _) in enumerate(current)}
    direction = geometry.direction_matrix
    spacing = np.asarray(geometry.spacing)
    origin = np.asarray(geometry.origin, dtype=np.float64)
    permutation, flips, columns = [], [], []
    for letter in code:
        world, sign = ORIENTATION_LETTERS[letter]
        axis = old_axis_of_world[world]
        flip = current[axis][1] != sign
        permutation.append(axis)
        flips.append(flip)
        columns.append(-direction[:, axis] if flip else direction[:, axis])
        if flip:
            origin = origin + direction[:, axis] * spacing[axis] * (geometry.size[axis] - 1)
    target = Geometry(
        origin=_triple(origin),
        spacing=_triple([geometry.spacing[a] for a in permutation]),
        direction=tuple(float(v) for v in np.stack(columns, axis=1).ravel()),
        size=(geometry.size[permutation[0]], geometry.size[permutation[1]], geometry.size[permutation[2]]),
    )
    return Reorientation((permutation[0], permutation[1], permutation[2]), (flips[0], flips[1], flips[2]), target)


def shifted(geometry: Geometry, start: Sequence[int], size: Sequence[int]) -> Geometry:
    """The sub-grid (or super-grid, for negative starts) beginning at index ``start``."""
    offset = geometry.direction_matrix @ (np.asarray(geometry.spacing) * np.asarray(start, dtype=np.float64))
    origin = _triple(np.asarray(geometry.origin) + offset)
    return Geometry(origin, geometry.spacing, geometry.direction, (int(size[0]), int(size[1]), int(size[2])))


def with_spacing(geometry: Geometry, spacing: Sequence[float], extent: str) -> Geometry:
    """The grid with a new spacing over the same region.

    ``extent="centers"``: the new grid starts at the first voxel centre and spans the outermost voxel centres,
    size ``round((n - 1) · s / s') + 1`` (the convention of MONAI's ``Spacing`` and nibabel's resampling).
    ``extent="edges"``: the new grid covers the same field of view (voxel edges), size ``round(n · s / s')``,
    centred on the old one (the usual ITK convention).
    """
    old = np.asarray(geometry.spacing)
    new = np.asarray(spacing, dtype=np.float64)
    count = np.asarray(geometry.size, dtype=np.float64)
    if extent == "centers":
        size = np.round((count - 1) * old / new) + 1
        return Geometry(geometry.origin, _triple(new), geometry.direction, _sizes(size))
    return centred(geometry, new, _sizes(np.round(count * old / new)))


def centred(geometry: Geometry, spacing: npt.NDArray[np.float64], size: tuple[int, int, int]) -> Geometry:
    """A grid of ``size`` voxels of ``spacing`` with the same centre and direction as ``geometry``."""
    half_old = np.asarray(geometry.spacing) * (np.asarray(geometry.size) - 1) / 2
    half_new = spacing * (np.asarray(size) - 1) / 2
    origin = np.asarray(geometry.origin) + geometry.direction_matrix @ (half_old - half_new)
    return Geometry(_triple(origin), _triple(spacing), geometry.direction, size)


def _sizes(values: npt.NDArray[np.float64]) -> tuple[int, int, int]:
    clipped = np.maximum(values, 1).astype(int)
    return (int(clipped[0]), int(clipped[1]), int(clipped[2]))


def simpleitk() -> Any:
    """SimpleITK, imported on first use (so that importing the pipeline stays fast)."""
    return importlib.import_module("SimpleITK")


def _interpolator(name: str) -> Any:
    sitk = simpleitk()
    return {"linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor, "bspline": sitk.sitkBSpline}[name]


def corner_indices(source: Geometry, target: Geometry) -> npt.NDArray[np.float64]:
    """The continuous indices, on ``source``, of the 8 corner voxel centres of ``target`` (3 × 8)."""
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in target.size], indexing="ij"), dtype=np.float64)
    points = target.index_to_physical @ np.vstack([corners.reshape(3, -1), np.ones((1, 8))])
    return np.asarray(np.linalg.solve(source.index_to_physical, points)[:3], dtype=np.float64)


def border_margins(source: Geometry, target: Geometry) -> tuple[list[int], list[int]]:
    """How many voxels the source must be extended by, below and above, to contain every target point."""
    corners = corner_indices(source, target)
    below = np.ceil(np.maximum(-corners.min(axis=1), 0.0))
    above = np.ceil(np.maximum(corners.max(axis=1) - (np.asarray(source.size) - 1), 0.0))
    return [int(v) for v in below], [int(v) for v in above]


def resample(
    data: FloatArray, source: Geometry, target: Geometry, interpolation: str, outside: str, fill: float = 0.0
) -> FloatArray:
    """Every channel of ``data`` (on ``source``) resampled onto ``target`` with SimpleITK.

    ``outside="nearest"`` clamps every point to the input's extent, axis by axis, before interpolating: the
    input is first extended by replicating its edge voxels (ITK's zero-flux Neumann padding) far enough to
    hold every target point. With linear interpolation this equals torch ``grid_sample``'s ``border``
    padding, so MONAI's ``Spacing`` and its inverse are reproduced. ``outside="constant"`` gives points
    beyond half a voxel of the input ``fill``.
    """
    sitk = simpleitk()
    below, above = border_margins(source, target) if outside == "nearest" else ([0] * 3, [0] * 3)
    channels = []
    for channel in data:
        image = volume_to_sitk(Volume(channel, source))
        if any(below) or any(above):
            image = sitk.ZeroFluxNeumannPad(image, below, above)
        result = sitk.Resample(
            image,
            target.size,
            sitk.Transform(),
            _interpolator(interpolation),
            target.origin,
            target.spacing,
            target.direction,
            float(fill),
            sitk.sitkFloat32,
            outside == "nearest",
        )
        channels.append(volume_from_sitk(result).array)
    return np.stack(channels).astype(np.float32, copy=False)


def nearest_exact_indices(source: int, target: int) -> npt.NDArray[np.intp]:
    """For each of ``target`` voxels spanning the same extent as ``source`` voxels, the nearest source voxel.

    Index space, edge-aligned: target voxel ``t`` takes source voxel ``floor((t + 0.5) · source / target)``,
    torch's ``interpolate(mode="nearest-exact")`` (also Pillow's and ``scipy.ndimage.zoom``'s grid). The
    arithmetic is torch's, in float32 with one rounding of ``scale · (t + 0.5) − 0.5``, so that ties break
    the same way.
    """
    scale = np.float32(source) / np.float32(target)
    centres = (np.float64(scale) * (np.arange(target, dtype=np.float64) + 0.5) - 0.5).astype(np.float32)
    nearest = np.floor(np.maximum(centres, np.float32(0.0)) + np.float32(0.5)).astype(np.intp)
    return np.minimum(nearest, source - 1)


def resize_nearest_exact(data: FloatArray, size: Sequence[int]) -> FloatArray:
    """Every channel of ``data`` resized to ``size`` voxels by :func:`nearest_exact_indices` (no resampling)."""
    axes = [nearest_exact_indices(n, m) for n, m in zip(data.shape[1:], size, strict=True)]
    return np.ascontiguousarray(data[np.ix_(np.arange(data.shape[0]), *axes)])
