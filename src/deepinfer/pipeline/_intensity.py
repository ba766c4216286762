"""Steps that change voxel values only (the grid stays): normalisation, clipping, smoothing."""

from __future__ import annotations

from typing import Any

import numpy as np

from deepinfer.pipeline import _checks as check
from deepinfer.pipeline._base import FloatArray, PipelineState, PipelineStep

FILTER_MODES = ("nearest", "reflect", "mirror", "constant", "wrap")


def selection(channel: FloatArray, nonzero: bool) -> FloatArray | slice:
    """The voxels statistics are taken over: all, or the nonzero ones (as MONAI's ``nonzero=True``)."""
    return channel != 0 if nonzero else slice(None)


class NormalizeZScore(PipelineStep):
    """Per channel ``(x - mean) / std`` (population std; 1 when it is 0), then ``* scale + shift``.

    With ``nonzero`` the statistics come from the nonzero voxels and only those are changed (zeros stay
    zero), as MONAI's ``NormalizeIntensity(nonzero=True, channel_wise=True)``.
    """

    name = "normalize_zscore"

    def __init__(self, *, nonzero: bool = False, scale: float = 1.0, shift: float = 0.0) -> None:
        self.nonzero = check.boolean("nonzero", nonzero)
        self.scale = check.number("scale", scale)
        self.shift = check.number("shift", shift)

    def apply(self, state: PipelineState) -> None:
        data = state.image.data.copy()
        for channel in data:
            where = selection(channel, self.nonzero)
            values = channel[where]
            if values.size == 0:
                continue
            mean = np.float32(values.mean(dtype=np.float64))
            std = np.float32(values.std(dtype=np.float64)) or np.float32(1.0)
            normalized = (values - mean) / std
            channel[where] = normalized * np.float32(self.scale) + np.float32(self.shift)
        state.image = state.image.with_data(data)


class ClipPercentiles(PipelineStep):
    """Clip each channel to its ``lower`` and ``upper`` percentiles (of the nonzero voxels with ``nonzero``)."""

    name = "clip_percentiles"

    def __init__(self, *, lower: float = 0.5, upper: float = 99.5, nonzero: bool = False) -> None:
        self.lower = check.number("lower", lower, 0.0, 100.0)
        self.upper = check.number("upper", upper, self.lower, 100.0)
        self.nonzero = check.boolean("nonzero", nonzero)

    def apply(self, state: PipelineState) -> None:
        data = state.image.data.copy()
        for channel in data:
            values = channel[selection(channel, self.nonzero)]
            if values.size == 0:
                continue
            low, high = np.percentile(values, [self.lower, self.upper])
            np.clip(channel, low, high, out=channel)
        state.image = state.image.with_data(data)


class NormalizeMinMax(PipelineStep):
    """Rescale each channel linearly so its minimum becomes ``minimum`` and its maximum ``maximum``
    (a constant channel becomes ``minimum``)."""

    name = "normalize_minmax"

    def __init__(self, *, minimum: float = 0.0, maximum: float = 1.0) -> None:
        self.minimum = check.number("minimum", minimum)
        self.maximum = check.number("maximum", maximum, self.minimum)

    def apply(self, state: PipelineState) -> None:
        data = state.image.data.astype(np.float64)
        for channel in data:
            low, high = channel.min(), channel.max()
            unit = (channel - low) / (high - low) if high > low else np.zeros_like(channel)
            channel[...] = unit * (self.maximum - self.minimum) + self.minimum
        state.image = state.image.with_data(data)


class GaussianSmooth(PipelineStep):
    """Gaussian filter over the spatial axes of every channel (``scipy.ndimage.gaussian_filter``).

    ``sigma`` is one value or one per axis, in voxels (``units="voxels"``) or millimetres (``"mm"``);
    ``mode`` is scipy's boundary mode. A sigma of 0 leaves an axis unfiltered.
    """

    name = "gaussian_smooth"

    def __init__(self, *, sigma: Any, units: str = "voxels", mode: str = "nearest", truncate: float = 4.0) -> None:
        self.sigma = check.nonnegative_triple("sigma", sigma)
        self.units = check.choice("units", units, ("voxels", "mm"))
        self.mode = check.choice("mode", mode, FILTER_MODES)
        self.truncate = check.number("truncate", truncate, 0.5)

    def apply(self, state: PipelineState) -> None:
        from scipy import ndimage

        sigma = np.asarray(self.sigma)
        if self.units == "mm":
            sigma = sigma / np.asarray(state.image.geometry.spacing)
        if not sigma.any():
            return
        smoothed = ndimage.gaussian_filter(
            state.image.data, sigma=(0.0, *sigma.tolist()), mode=self.mode, truncate=self.truncate
        )
        state.image = state.image.with_data(smoothed)
