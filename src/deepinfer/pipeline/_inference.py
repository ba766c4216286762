"""Steps that run a network: whole-image inference and sliding-window inference with blending.

The sliding window follows MONAI's ``sliding_window_inference`` (same window positions, Gaussian importance
map, weighted averaging and constant padding of images smaller than the window), so a model trained and
validated with MONAI gives the same output.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from deepinfer._exceptions import PipelineError
from deepinfer.pipeline import _checks as check
from deepinfer.pipeline._base import FloatArray, Network, PipelineState, PipelineStep

Window = tuple[slice, ...]


def run_network(network: Network, batch: FloatArray, step: str) -> FloatArray:
    """One network call with the shape checks every inference step needs."""
    result = np.asarray(network(np.ascontiguousarray(batch, dtype=np.float32)), dtype=np.float32)
    if result.ndim != batch.ndim or result.shape[0] != batch.shape[0] or result.shape[2:] != batch.shape[2:]:
        raise PipelineError(
            f"{step}: the network returned shape {result.shape} for an input of shape {batch.shape}; "
            "expected the same batch and spatial size"
        )
    return result


class Infer(PipelineStep):
    """Run the network on the whole image at once (fixed-size networks: resize or pad first)."""

    name = "infer"

    def __init__(self, *, network: str = "model") -> None:
        self.network = check.member_name("network", network)

    def artifacts(self) -> list[str]:
        return [self.network]

    def apply(self, state: PipelineState) -> None:
        network = state.networks(self.network)
        state.progress("inference", 0, 1)
        result = run_network(network, state.image.data[None], self.name)
        state.progress("inference", 1, 1)
        state.image = state.image.with_data(result[0])


def window_starts(size: int, roi: int, overlap: float) -> list[int]:
    """Window start positions along one axis: every ``roi·(1-overlap)`` voxels, the last one flush with
    the end (MONAI's ``dense_patch_slices``)."""
    interval = roi if roi == size else max(int(roi * (1 - overlap)), 1)
    count = next((d + 1 for d in range(math.ceil(size / interval)) if d * interval + roi >= size), 1)
    return [min(d * interval, size - roi) for d in range(count)]


def importance_map(roi: Sequence[int], blend: str, sigma_scale: float) -> FloatArray:
    """Window weights: constant, or a separable Gaussian with σ = ``sigma_scale · roi`` per axis, floored
    at ``max(min, 1e-3)`` so that no voxel gets zero weight."""
    if blend == "constant":
        return np.ones(tuple(roi), dtype=np.float32)
    from scipy.signal.windows import gaussian

    weights = np.ones((1, 1, 1), dtype=np.float64)
    for axis, length in enumerate(roi):
        shape = [1, 1, 1]
        shape[axis] = length
        weights = weights * gaussian(length, length * sigma_scale).reshape(shape)
    return np.maximum(weights, max(float(weights.min()), 1e-3)).astype(np.float32)


def windows(shape: Sequence[int], roi: Sequence[int], overlap: float) -> list[Window]:
    starts = [window_starts(n, r, overlap) for n, r in zip(shape, roi, strict=True)]
    return [tuple(slice(s, s + r) for s, r in zip(corner, roi, strict=True)) for corner in itertools.product(*starts)]


def preferred_batch(network: Network, minimum: int) -> int:
    """How many windows to send per call: the step's ``batch_size``, or more when the network runs several
    at once (an OpenVINO model with several streams says so through ``preferred_batch``)."""
    return max(minimum, int(getattr(network, "preferred_batch", 1)))


class Blender:
    """The weighted average of overlapping window predictions, normalised band by band.

    Windows arrive in order of their start along the first axis. Once the next window starts at ``x``, no later
    window reaches the voxels before ``x``: that band is divided by its summed weights right away, so the sum
    of weights is only ever held for one band, never for the whole image. Each voxel's sums run over the same
    windows in the same order as a whole-image sum, so the result is the same to the last bit.
    """

    def __init__(self, spatial: Sequence[int], positions: list[Window], weights: FloatArray) -> None:
        self.spatial = tuple(spatial)
        self.positions = positions
        self.weights = weights
        self.total: FloatArray | None = None
        self.added = 0
        self.finished = 0  # first-axis voxels before this index are final

    def add(self, group: Sequence[Window], predictions: FloatArray) -> None:
        if self.total is None:
            self.total = np.zeros((predictions.shape[1], *self.spatial), dtype=np.float32)
        for window, prediction in zip(group, predictions, strict=True):
            weighted = np.multiply(prediction, self.weights, out=prediction if prediction.flags.writeable else None)
            self.total[(slice(None), *window)] += weighted
        self.added += len(group)
        following = self.positions[self.added][0].start if self.added < len(self.positions) else self.spatial[0]
        self._normalise(following)

    def _normalise(self, end: int) -> None:
        begin = self.finished
        if end <= begin or self.total is None:
            return
        count = np.zeros((end - begin, *self.spatial[1:]), dtype=np.float32)
        for window in self.positions:
            low, high = max(window[0].start, begin), min(window[0].stop, end)
            if low < high:
                rows = self.weights[low - window[0].start : high - window[0].start]
                count[(slice(low - begin, high - begin), *window[1:])] += rows
        self.total[:, begin:end] /= count
        self.finished = end

    def result(self) -> FloatArray:
        assert self.total is not None and self.finished == self.spatial[0]  # every window was added
        return self.total


class SlidingWindow(PipelineStep):
    """Run the network on overlapping windows of ``roi`` voxels and blend them (MONAI's
    ``sliding_window_inference``): ``overlap`` in [0, 1), ``blend`` ``"gaussian"`` (σ = ``sigma_scale`` ·
    roi) or ``"constant"``, ``batch_size`` windows per network call (at least; more when the network runs
    several at once); an image smaller than the window is padded with ``pad_value`` (split evenly) and the
    padding removed afterwards. Memory: the input, the output and one band of weights (see :class:`Blender`).
    Progress is reported per window as ``("sliding window", done, total)``.
    """

    name = "sliding_window"

    def __init__(
        self,
        *,
        roi: Any,
        network: str = "model",
        overlap: float = 0.25,
        blend: str = "gaussian",
        sigma_scale: float = 0.125,
        batch_size: int = 1,
        pad_value: float = 0.0,
    ) -> None:
        self.roi = check.int_triple("roi", roi, minimum=1)
        self.network = check.member_name("network", network)
        self.overlap = check.number("overlap", overlap, 0.0, 0.99)
        self.blend = check.choice("blend", blend, ("gaussian", "constant"))
        self.sigma_scale = check.number("sigma_scale", sigma_scale, 1e-3)
        self.batch_size = check.integer("batch_size", batch_size, minimum=1)
        self.pad_value = check.number("pad_value", pad_value)

    def artifacts(self) -> list[str]:
        return [self.network]

    def pad(self, data: FloatArray) -> tuple[FloatArray, Window]:
        """Pad axes shorter than the window; returns the padded data and the slice of the original."""
        extra = [max(r - n, 0) for r, n in zip(self.roi, data.shape[1:], strict=True)]
        widths = [(e // 2, e - e // 2) for e in extra]
        inside = tuple(slice(b, b + n) for (b, _), n in zip(widths, data.shape[1:], strict=True))
        if not any(extra):
            return data, inside
        return np.pad(data, [(0, 0), *widths], constant_values=self.pad_value), inside

    def apply(self, state: PipelineState) -> None:
        network = state.networks(self.network)
        data, inside = self.pad(state.image.data)
        positions = windows(data.shape[1:], self.roi, self.overlap)
        blender = Blender(data.shape[1:], positions, importance_map(self.roi, self.blend, self.sigma_scale))
        state.progress("sliding window", 0, len(positions))
        done = 0
        while done < len(positions):
            group = positions[done : done + preferred_batch(network, self.batch_size)]
            batch = np.stack([data[(slice(None), *window)] for window in group])
            blender.add(group, run_network(network, batch, self.name))
            done += len(group)
            state.progress("sliding window", done, len(positions))
        total = blender.result()
        if total.shape[1:] != state.image.data.shape[1:]:  # padded: keep only the original voxels
            total = np.ascontiguousarray(total[(slice(None), *inside)])
        state.image = state.image.with_data(total)
