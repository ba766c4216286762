"""Steps that change the grid: each pushes an undo, and ``restore_geometry`` applies them in reverse.

An undo restores the *saved* geometry object, so the restored grid is the input's exactly (bit for bit),
whatever rounding the forward step's arithmetic had.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from deepinfer._exceptions import PipelineError
from deepinfer.imaging import Geometry
from deepinfer.pipeline import _checks as check
from deepinfer.pipeline._base import FloatArray, ParamError, PipelineState, PipelineStep, Tensor
from deepinfer.pipeline._grid import (
    INTERPOLATIONS,
    ORIENTATION_LETTERS,
    OUTSIDE_MODES,
    centred,
    reorientation,
    resample,
    resize_nearest_exact,
    shifted,
    with_spacing,
)

PAD_MODES = ("constant", "edge", "reflect", "symmetric")


def push_undo(state: PipelineState, step: str, grid: Geometry, back: Callable[[FloatArray], Tensor]) -> None:
    """Record how to leave ``grid`` (the grid ``step`` produced) for the grid before it."""

    def undo(tensor: Tensor) -> Tensor:
        if not tensor.geometry.same_as(grid):
            raise PipelineError(f"cannot undo {step!r}: the image is no longer on the grid that step produced")
        return back(tensor.data)

    state.undo.append(undo)


def orientation_param(value: Any) -> str:
    code = str(value).upper() if isinstance(value, str) else ""
    axes = sorted(ORIENTATION_LETTERS[letter][0] for letter in code if letter in ORIENTATION_LETTERS)
    if len(code) != 3 or axes != [0, 1, 2]:
        raise ParamError("orientation", f"must be 3 letters, one of L/R, A/P, S/I each (e.g. 'RAS'), got {value!r}")
    return code


class Reorient(PipelineStep):
    """Permute and flip the axes so they point as ``orientation`` says (nibabel's codes: ``"RAS"`` means
    i → right, j → anterior, k → superior). No interpolation: the voxels are only reordered."""

    name = "reorient"

    def __init__(self, *, orientation: str = "RAS") -> None:
        self.orientation = orientation_param(orientation)

    def apply(self, state: PipelineState) -> None:
        before = state.image.geometry
        plan = reorientation(before, self.orientation)
        state.image = Tensor(plan.forward(state.image.data), plan.target)
        push_undo(state, self.name, plan.target, lambda data: Tensor(plan.backward(data), before))


class _Resampling(PipelineStep):
    """Shared by ``resample`` and ``resize``: the target grid differs, the interpolation and undo do not."""

    interpolations: tuple[str, ...] = INTERPOLATIONS

    def _interpolation_params(self, interpolation: str, outside: str, fill: float, inverse: str | None) -> None:
        self.interpolation = check.choice("interpolation", interpolation, self.interpolations)
        self.outside = check.choice("outside", outside, OUTSIDE_MODES)
        self.fill = check.number("fill", fill)
        chosen = self.interpolation if inverse is None else inverse
        self.inverse = check.choice("inverse", chosen, self.interpolations)

    def target(self, geometry: Geometry) -> Geometry:
        raise NotImplementedError

    def _resample(self, data: FloatArray, source: Geometry, target: Geometry, interpolation: str) -> FloatArray:
        if interpolation == "nearest_exact":  # both grids cover the same field of view (``resize``)
            return resize_nearest_exact(data, target.size)
        return resample(data, source, target, interpolation, self.outside, self.fill)

    def apply(self, state: PipelineState) -> None:
        before = state.image.geometry
        after = self.target(before)
        state.image = Tensor(self._resample(state.image.data, before, after, self.interpolation), after)

        def back(values: FloatArray) -> Tensor:
            return Tensor(self._resample(values, after, before, self.inverse), before)

        push_undo(state, self.name, after, back)


class Resample(_Resampling):
    """Resample to a voxel ``spacing`` (mm) with SimpleITK; the undo resamples back onto the saved grid.

    ``extent``: ``"centers"`` keeps the first voxel centre and spans the outermost voxel centres (MONAI's
    ``Spacing``, nibabel); ``"edges"`` keeps the field of view, centred (ITK's usual choice).
    ``outside``: ``"nearest"`` clamps points beyond the input to its edge voxels (torch ``grid_sample``
    ``border`` padding), ``"constant"`` gives them ``fill``. ``inverse`` is the interpolation of the undo
    (default: the same as ``interpolation``).
    """

    name = "resample"

    def __init__(
        self,
        *,
        spacing: Any,
        interpolation: str = "linear",
        extent: str = "centers",
        outside: str = "nearest",
        fill: float = 0.0,
        inverse: str | None = None,
    ) -> None:
        self.spacing = check.positive_triple("spacing", spacing)
        self.extent = check.choice("extent", extent, ("centers", "edges"))
        self._interpolation_params(interpolation, outside, fill, inverse)

    def target(self, geometry: Geometry) -> Geometry:
        return with_spacing(geometry, self.spacing, self.extent)


class Resize(_Resampling):
    """Resample onto a fixed number of voxels (``size``) over the same field of view, for networks with
    a fixed input shape; the undo resamples back onto the saved grid.

    Besides the physical-space interpolations, ``"nearest_exact"`` picks voxels in index space: target voxel
    ``t`` takes source voxel ``floor((t + 0.5) · n / size)`` per axis (torch's ``nearest-exact``), with no
    rounding noise from world coordinates; it is also allowed as ``inverse``.
    """

    name = "resize"
    interpolations = (*INTERPOLATIONS, "nearest_exact")

    def __init__(
        self,
        *,
        size: Any,
        interpolation: str = "linear",
        outside: str = "nearest",
        fill: float = 0.0,
        inverse: str | None = None,
    ) -> None:
        self.size = check.int_triple("size", size, minimum=1)
        self._interpolation_params(interpolation, outside, fill, inverse)

    def target(self, geometry: Geometry) -> Geometry:
        spacing = np.asarray(geometry.spacing) * np.asarray(geometry.size) / np.asarray(self.size)
        return centred(geometry, spacing, self.size)


def extract_box(data: FloatArray, start: np.ndarray, stop: np.ndarray, fill: float) -> FloatArray:
    """``data[:, start:stop]`` per axis, where the box may reach beyond the array (filled with ``fill``)."""
    size = stop - start
    out = np.full((data.shape[0], *size.tolist()), fill, dtype=np.float32)
    low = np.maximum(start, 0)
    high = np.minimum(stop, np.asarray(data.shape[1:]))
    if np.all(high > low):
        source = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
        target = tuple(slice(int(a), int(b)) for a, b in zip(low - start, high - start, strict=True))
        out[(slice(None), *target)] = data[(slice(None), *source)]
    return out


def push_box(
    state: PipelineState, step: str, start: np.ndarray, stop: np.ndarray, fill: float, boxed: FloatArray | None = None
) -> None:
    """Replace the image by the box ``[start, stop)`` of its grid (``boxed``, when the caller already made it);
    the undo puts it back with ``fill`` around."""
    before = state.image.geometry
    after = shifted(before, start.tolist(), (stop - start).tolist())
    data = extract_box(state.image.data, start, stop, fill) if boxed is None else boxed
    state.image = Tensor(data, after)
    full = np.asarray(before.size)

    def back(data: FloatArray) -> Tensor:
        return Tensor(extract_box(data, -start, full - start, fill), before)

    push_undo(state, step, after, back)


class CropForeground(PipelineStep):
    """Crop to the bounding box of the voxels above ``threshold`` (any channel), widened by ``margin``.

    Where the margin passes the image border the box is kept and filled with ``fill`` (MONAI ≥ 1.5's
    ``CropForeground``), unless ``clip_to_image`` stops it at the border. The undo pads back with ``fill``.
    """

    name = "crop_foreground"

    def __init__(
        self, *, threshold: float = 0.0, margin: Any = 0, clip_to_image: bool = False, fill: float = 0.0
    ) -> None:
        self.threshold = check.number("threshold", threshold)
        self.margin = np.asarray(check.int_triple("margin", margin, minimum=0))
        self.clip_to_image = check.boolean("clip_to_image", clip_to_image)
        self.fill = check.number("fill", fill)

    def apply(self, state: PipelineState) -> None:
        foreground = np.any(state.image.data > self.threshold, axis=0)
        if not foreground.any():
            raise PipelineError(f"crop_foreground: no voxel is above {self.threshold:g}")
        found = np.argwhere(foreground)
        start = found.min(axis=0) - self.margin
        stop = found.max(axis=0) + 1 + self.margin
        if self.clip_to_image:
            start, stop = np.maximum(start, 0), np.minimum(stop, foreground.shape)
        push_box(state, self.name, start, stop, self.fill)


class Pad(PipelineStep):
    """Pad to at least ``minimum`` voxels and/or to a ``multiple`` of voxels per axis, split evenly (the
    extra voxel after); the undo crops back. ``mode`` is numpy's pad mode; ``value`` for ``constant``."""

    name = "pad"

    def __init__(self, *, minimum: Any = 1, multiple: Any = 1, mode: str = "constant", value: float = 0.0) -> None:
        self.minimum = np.asarray(check.int_triple("minimum", minimum, minimum=1))
        self.multiple = np.asarray(check.int_triple("multiple", multiple, minimum=1))
        self.mode = check.choice("mode", mode, PAD_MODES)
        self.value = check.number("value", value)

    def apply(self, state: PipelineState) -> None:
        size = np.asarray(state.image.geometry.size)
        wanted = np.maximum(size, self.minimum)
        wanted = -(-wanted // self.multiple) * self.multiple
        before = (wanted - size) // 2
        widths = [(0, 0), *((int(b), int(w - s - b)) for b, w, s in zip(before, wanted, size, strict=True))]
        data = state.image.data
        if self.mode == "constant":
            padded = np.pad(data, widths, mode="constant", constant_values=self.value)
        else:
            padded = np.pad(data, widths, mode=self.mode)  # type: ignore[call-overload]
        push_box(state, self.name, -before, wanted - before, self.value, np.asarray(padded, dtype=np.float32))


class RestoreGeometry(PipelineStep):
    """Apply the undo stack in reverse, so the image lies on the input's exact grid; with ``levels``, undo
    only that many of the last grid changes (e.g. resample back, then an activation, then the rest)."""

    name = "restore_geometry"

    def __init__(self, *, levels: int | None = None) -> None:
        self.levels = None if levels is None else check.integer("levels", levels, minimum=1)

    def apply(self, state: PipelineState) -> None:
        if self.levels is not None:
            if len(state.undo) < self.levels:
                raise PipelineError(f"restore_geometry: {self.levels} levels asked, {len(state.undo)} to undo")
            for _ in range(self.levels):
                state.image = state.undo.pop()(state.image)
            return
        while state.undo:
            state.image = state.undo.pop()(state.image)
        if not state.image.geometry.same_as(state.source.geometry):
            raise PipelineError("restore_geometry: the image is not on the input's grid after undoing every step")
