"""A volume as a stack of 2D planes for a 2D network: ``planes``, ``resize_planes``, ``scale_planes``.

``planes`` turns the working image into a *plane stack*: channel-first voxels ``(C, rows, columns, planes)``.
The anatomical plane is chosen from the image's direction cosines, never from its storage order (an oblique
grid snaps to the nearest axes, as ``reorient`` does), and each plane is laid out as it is displayed
(the radiological convention of the report's panels):

- ``axial``: rows run anterior → posterior, columns patient right → left, planes inferior → superior;
- ``coronal``: rows superior → inferior, columns right → left, planes anterior → posterior;
- ``sagittal``: rows superior → inferior, columns anterior → posterior, planes right → left;
- ``frames``: the stored frames of a cine or ultrasound series as they are (rows along j, columns along i,
  one plane per k).

Only voxels are reordered, with an undo, so a 2D segmentation net's maps go back onto the input's exact grid
through ``restore_geometry``. ``resize_planes`` and ``scale_planes`` work on each plane alone: the network's
plane size, and an intensity window per plane (a 2D net trained on 8-bit pictures saw each picture windowed
on its own). Running the network on the stack is ``infer_planes`` (:mod:`deepinfer.pipeline._plane_inference`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from deepinfer._exceptions import PipelineError
from deepinfer.imaging import Geometry
from deepinfer.pipeline import _checks as check
from deepinfer.pipeline._base import FloatArray, ParamError, PipelineState, PipelineStep, Tensor
from deepinfer.pipeline._grid import Reorientation, centred, reorientation
from deepinfer.pipeline._spatial import push_undo

# Orientation codes (nibabel's letters: the direction each array axis runs) of (rows, columns, planes).
PLANE_CODES = {"axial": "PLS", "coronal": "ILP", "sagittal": "IPL"}
PLANES = (*PLANE_CODES, "frames")
PLANE_INTERPOLATIONS = ("nearest", "linear", "cubic")


def frames_plan(geometry: Geometry) -> Reorientation:
    """Swap i and j, so rows run along j and columns along i (how a stored frame is shown)."""
    direction = geometry.direction_matrix[:, [1, 0, 2]]
    target = Geometry(
        geometry.origin,
        (geometry.spacing[1], geometry.spacing[0], geometry.spacing[2]),
        tuple(float(v) for v in direction.ravel()),
        (geometry.size[1], geometry.size[0], geometry.size[2]),
    )
    return Reorientation((1, 0, 2), (False, False, False), target)


def plane_name(state: PipelineState, step: str) -> str:
    """Which planes the working image is a stack of, or an error when no ``planes`` step made it one."""
    if state.plane is None:
        raise PipelineError(f"{step}: the image is not a stack of planes (put a 'planes' step before it)")
    return state.plane


class Planes(PipelineStep):
    """Make the working image a stack of ``plane`` planes (``axial``, ``coronal``, ``sagittal`` or ``frames``)."""

    name = "planes"

    def __init__(self, *, plane: str = "axial") -> None:
        self.plane = check.choice("plane", plane, PLANES)

    def apply(self, state: PipelineState) -> None:
        before = state.image.geometry
        frames = self.plane == "frames"
        plan = frames_plan(before) if frames else reorientation(before, PLANE_CODES[self.plane])
        state.image = Tensor(plan.forward(state.image.data), plan.target)
        state.plane = self.plane

        def back(data: FloatArray) -> Tensor:
            state.plane = None  # back on the input's grid: no longer a stack of planes
            return Tensor(plan.backward(data), before)

        push_undo(state, self.name, plan.target, back)


def _kernel(interpolation: str) -> tuple[Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]], float]:
    """The 1D interpolation kernel and its support (in source pixels at scale 1)."""
    if interpolation == "nearest":
        return (lambda x: ((x >= -0.5) & (x < 0.5)).astype(np.float64)), 0.5
    if interpolation == "linear":
        return (lambda x: np.clip(1.0 - np.abs(x), 0.0, None)), 1.0
    a = -0.5  # Keys' cubic convolution with a = -0.5 (the "bicubic" of most image libraries)

    def cubic(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x = np.abs(x)
        near = ((a + 2) * x - (a + 3)) * x * x + 1
        far = (((x - 5) * x + 8) * x - 4) * a
        return np.where(x < 1, near, np.where(x < 2, far, 0.0))

    return cubic, 2.0


def resize_matrix(source: int, target: int, interpolation: str) -> npt.NDArray[np.float64]:
    """The ``(target, source)`` matrix of one axis' resize over the same field of view (pixel edges aligned).

    Target pixel ``t`` is centred on source coordinate ``(t + 0.5)·source/target``; when shrinking, the kernel
    is widened by the scale so that every source pixel contributes (antialiasing). Rows sum to 1.
    """
    if interpolation == "nearest":
        matrix = np.zeros((target, source))
        picked = np.minimum(np.floor((np.arange(target) + 0.5) * source / target).astype(int), source - 1)
        matrix[np.arange(target), picked] = 1.0
        return matrix
    kernel, support = _kernel(interpolation)
    scale = source / target
    widen = max(scale, 1.0)
    centres = (np.arange(target) + 0.5) * scale
    offsets = (np.arange(source)[None, :] + 0.5 - centres[:, None]) / widen
    weights = np.where(np.abs(offsets) < support, kernel(offsets), 0.0)
    return np.asarray(weights / weights.sum(axis=1, keepdims=True), dtype=np.float64)


def resize_stack(data: FloatArray, size: tuple[int, int], interpolation: str) -> FloatArray:
    """Every plane of ``(C, rows, columns, planes)`` resized to ``size`` (rows, columns)."""
    rows = resize_matrix(data.shape[1], size[0], interpolation).astype(np.float32)
    columns = resize_matrix(data.shape[2], size[1], interpolation).astype(np.float32)
    resized = np.einsum("rh,chwn,sw->crsn", rows, data, columns, optimize=True)
    return np.ascontiguousarray(resized, dtype=np.float32)


def _plane_size(value: Any) -> tuple[int, int]:
    if not (isinstance(value, list | tuple) and len(value) == 2):
        raise ParamError("size", f"must be [rows, columns], got {value!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
        raise ParamError("size", f"must be two integers ≥ 1, got {value!r}")
    return int(value[0]), int(value[1])


class ResizePlanes(PipelineStep):
    """Resize every plane to ``size`` = [rows, columns] (the network's plane size) over the same field of view.

    ``interpolation``: ``nearest``, ``linear`` or ``cubic`` (Keys, a = −0.5), antialiased when shrinking;
    ``clip`` keeps the result within the stack's value range (cubic overshoot). The undo resizes back with
    ``inverse`` (default ``linear``: for probability maps).
    """

    name = "resize_planes"

    def __init__(
        self, *, size: Any, interpolation: str = "linear", clip: bool = False, inverse: str = "linear"
    ) -> None:
        self.size = _plane_size(size)
        self.interpolation = check.choice("interpolation", interpolation, PLANE_INTERPOLATIONS)
        self.clip = check.boolean("clip", clip)
        self.inverse = check.choice("inverse", inverse, PLANE_INTERPOLATIONS)

    def apply(self, state: PipelineState) -> None:
        plane_name(state, self.name)
        before = state.image.geometry
        size = (self.size[0], self.size[1], before.size[2])
        spacing = np.asarray(before.spacing) * np.asarray(before.size) / np.asarray(size)
        after = centred(before, spacing, size)
        data = state.image.data
        resized = resize_stack(data, self.size, self.interpolation)
        if self.clip and data.size:
            np.clip(resized, data.min(), data.max(), out=resized)
        state.image = Tensor(resized, after)
        original = (before.size[0], before.size[1])

        def back(values: FloatArray) -> Tensor:
            return Tensor(resize_stack(values, original, self.inverse), before)

        push_undo(state, self.name, after, back)


class ScalePlanes(PipelineStep):
    """Map each plane's ``lower`` and ``upper`` percentiles (default: its minimum and maximum) linearly onto
    [``minimum``, ``maximum``], clipped; a plane of one value becomes ``minimum``."""

    name = "scale_planes"

    def __init__(self, *, minimum: float = 0.0, maximum: float = 1.0, lower: float = 0.0, upper: float = 100.0) -> None:
        self.minimum = check.number("minimum", minimum)
        self.maximum = check.number("maximum", maximum)
        if self.maximum <= self.minimum:
            raise ParamError("maximum", f"must be above minimum ({self.minimum:g}), got {maximum!r}")
        self.lower = check.number("lower", lower, 0.0, 100.0)
        self.upper = check.number("upper", upper, 0.0, 100.0)
        if self.upper <= self.lower:
            raise ParamError("upper", f"must be above lower ({self.lower:g}), got {upper!r}")

    def apply(self, state: PipelineState) -> None:
        plane_name(state, self.name)
        data = state.image.data
        if data.size == 0:
            return
        flat = data.reshape(-1, data.shape[-1])  # every voxel of a plane (all channels) in one column
        if (self.lower, self.upper) == (0.0, 100.0):
            low, high = flat.min(axis=0), flat.max(axis=0)
        else:
            low, high = np.percentile(flat, [self.lower, self.upper], axis=0)
        width = np.where(high > low, high - low, math.inf).astype(np.float32)
        unit = np.clip((data - low.astype(np.float32)) / width, 0.0, 1.0)
        state.image = state.image.with_data(self.minimum + unit * (self.maximum - self.minimum))
