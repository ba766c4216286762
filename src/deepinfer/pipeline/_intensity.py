"""Steps that change voxel values only (the grid stays): normalisation, clipping, named statistics, smoothing."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deepinfer._exceptions import PipelineError
from deepinfer.pipeline import _checks as check
from deepinfer.pipeline._base import FloatArray, ParamError, PipelineState, PipelineStep

FILTER_MODES = ("nearest", "reflect", "mirror", "constant", "wrap")


def selection(channel: FloatArray, nonzero: bool) -> FloatArray | slice:
    """The voxels statistics are taken over: all, or the nonzero ones (as MONAI's ``nonzero=True``)."""
    return channel != 0 if nonzero else slice(None)


class NormalizeZScore(PipelineStep):
    """Per channel ``(x - mean) / std`` (1 when the std is 0), then ``* scale + shift``.

    ``ddof``: the std divides by ``n - ddof`` (0: population std, numpy's and MONAI's; 1: the sample std,
    torch's ``Tensor.std``). With ``nonzero`` the statistics come from the nonzero voxels and only those are
    changed (zeros stay zero), as MONAI's ``NormalizeIntensity(nonzero=True, channel_wise=True)``.
    """

    name = "normalize_zscore"

    def __init__(self, *, nonzero: bool = False, scale: float = 1.0, shift: float = 0.0, ddof: int = 0) -> None:
        self.nonzero = check.boolean("nonzero", nonzero)
        self.scale = check.number("scale", scale)
        self.shift = check.number("shift", shift)
        self.ddof = check.integer("ddof", ddof, minimum=0)
        if self.ddof > 1:
            raise ParamError("ddof", f"must be 0 or 1, got {ddof!r}")

    def apply(self, state: PipelineState) -> None:
        data = state.image.data.copy()
        for channel in data:
            if self.nonzero:
                where = channel != 0
                values = channel[where]  # a copy
                if self.standardize(values):
                    channel[where] = values
            else:
                self.standardize(channel.reshape(-1))  # a view: in place
        state.image = state.image.with_data(data)

    def standardize(self, values: FloatArray) -> bool:
        """Z-score, scale and shift float32 ``values`` (1-D) in place, with float64 sums; False if too few."""
        if values.size <= self.ddof:
            return False
        values -= np.float32(values.mean(dtype=np.float64))
        std = np.float32(math.sqrt(sum_of_squares(values) / (values.size - self.ddof))) or np.float32(1.0)
        values /= std
        values *= np.float32(self.scale)
        values += np.float32(self.shift)
        return True


def sum_of_squares(values: FloatArray, block: int = 1 << 18) -> float:
    """``Σ v²`` of 1-D float32 ``values``, in blocks through one small buffer (no full-size temporary)."""
    buffer = np.empty(min(block, values.size), dtype=np.float32)
    total = 0.0
    for start in range(0, values.size, block):
        part = values[start : start + block]
        squares = np.square(part, out=buffer[: part.size])
        total += float(squares.sum(dtype=np.float64))
    return total


class _PercentileParams(PipelineStep):
    """Shared by ``clip_percentiles`` and ``percentiles``: which percentiles, of which voxels."""

    def _percentile_params(self, lower: float, upper: float, nonzero: bool) -> None:
        self.lower = check.number("lower", lower, 0.0, 100.0)
        self.upper = check.number("upper", upper, self.lower, 100.0)
        self.nonzero = check.boolean("nonzero", nonzero)

    def bounds(self, channel: FloatArray) -> tuple[float, float] | None:
        """The two percentiles (numpy's linear interpolation, as ``torch.quantile``); None if no voxel counts."""
        values = channel[selection(channel, self.nonzero)]
        if values.size == 0:
            return None
        low, high = np.percentile(values, [self.lower, self.upper])
        return float(low), float(high)


class ClipPercentiles(_PercentileParams):
    """Clip each channel to its ``lower`` and ``upper`` percentiles (of the nonzero voxels with ``nonzero``)."""

    name = "clip_percentiles"

    def __init__(self, *, lower: float = 0.5, upper: float = 99.5, nonzero: bool = False) -> None:
        self._percentile_params(lower, upper, nonzero)

    def apply(self, state: PipelineState) -> None:
        data = state.image.data.copy()
        for channel in data:
            found = self.bounds(channel)
            if found is not None:
                np.clip(channel, found[0], found[1], out=channel)
        state.image = state.image.with_data(data)


class Percentiles(_PercentileParams):
    """Measure the ``lower`` and ``upper`` percentiles of one ``channel`` and keep them as ``{low, high}``
    under the name ``store_as``, for ``scale_to_range`` to use later, on this grid or another one (e.g. the
    statistics of a downsampled image applied to a crop at full resolution). The image is unchanged."""

    name = "percentiles"

    def __init__(
        self, *, store_as: str, lower: float = 0.5, upper: float = 99.5, nonzero: bool = False, channel: int = 0
    ) -> None:
        self.store_as = check.member_name("store_as", store_as)
        self.channel = check.integer("channel", channel, minimum=0)
        self._percentile_params(lower, upper, nonzero)

    def apply(self, state: PipelineState) -> None:
        data = state.image.data
        if self.channel >= data.shape[0]:
            raise PipelineError(f"percentiles: no channel {self.channel} in an image of {data.shape[0]}")
        found = self.bounds(data[self.channel])
        if found is None:
            raise PipelineError("percentiles: no voxel to measure (every voxel is zero)")
        state.values[self.store_as] = {"low": found[0], "high": found[1]}


def rescale(data: FloatArray, low: float, high: float, minimum: float, maximum: float, clip: bool) -> FloatArray:
    """``[low, high]`` mapped linearly onto ``[minimum, maximum]`` (float32; clipped to it with ``clip``).

    A degenerate range (``high <= low``) maps everything to ``minimum``.
    """
    if high <= low:
        return np.full_like(data, minimum, dtype=np.float32)
    unit = np.subtract(data, np.float32(low), dtype=np.float32)
    unit /= np.float32(high - low)
    if clip:
        np.clip(unit, 0.0, 1.0, out=unit)
    if (minimum, maximum) == (0.0, 1.0):
        return unit
    return unit * np.float32(maximum - minimum) + np.float32(minimum)


class NormalizeMinMax(PipelineStep):
    """Rescale each channel linearly so its minimum becomes ``minimum`` and its maximum ``maximum``
    (a constant channel becomes ``minimum``)."""

    name = "normalize_minmax"

    def __init__(self, *, minimum: float = 0.0, maximum: float = 1.0) -> None:
        self.minimum = check.number("minimum", minimum)
        self.maximum = check.number("maximum", maximum, self.minimum)

    def apply(self, state: PipelineState) -> None:
        data = state.image.data
        channels = [rescale(c, float(c.min()), float(c.max()), self.minimum, self.maximum, clip=False) for c in data]
        state.image = state.image.with_data(np.stack(channels))


class ScaleToRange(PipelineStep):
    """Map the stored range ``values`` (``{low, high}`` from a ``percentiles`` step) linearly onto
    ``[minimum, maximum]``, every channel; with ``clip`` values beyond the range are clipped to it.

    With the defaults: ``clamp((x - low) / (high - low), 0, 1)``.
    """

    name = "scale_to_range"

    def __init__(self, *, values: str, minimum: float = 0.0, maximum: float = 1.0, clip: bool = True) -> None:
        self.values = check.member_name("values", values)
        self.minimum = check.number("minimum", minimum)
        self.maximum = check.number("maximum", maximum, self.minimum)
        self.clip = check.boolean("clip", clip)

    def apply(self, state: PipelineState) -> None:
        stored = state.values.get(self.values)
        if stored is None:
            raise PipelineError(f"scale_to_range: no values named {self.values!r} (a percentiles step stores them)")
        scaled = rescale(state.image.data, stored["low"], stored["high"], self.minimum, self.maximum, self.clip)
        state.image = state.image.with_data(scaled)


class ScaleIntensityRange(PipelineStep):
    """Map the fixed range ``[low, high]`` linearly onto ``[minimum, maximum]``, every channel; with ``clip``
    values beyond it are clipped (a CT window: MONAI's ``ScaleIntensityRange(a_min, a_max, b_min, b_max)``)."""

    name = "scale_intensity_range"

    def __init__(
        self, *, low: float, high: float, minimum: float = 0.0, maximum: float = 1.0, clip: bool = False
    ) -> None:
        self.low = check.number("low", low)
        self.high = check.number("high", high)
        if self.high <= self.low:
            raise ParamError("high", f"must be greater than low ({low!r}), got {high!r}")
        self.minimum = check.number("minimum", minimum)
        self.maximum = check.number("maximum", maximum, self.minimum)
        self.clip = check.boolean("clip", clip)

    def apply(self, state: PipelineState) -> None:
        scaled = rescale(state.image.data, self.low, self.high, self.minimum, self.maximum, self.clip)
        state.image = state.image.with_data(scaled)


class NanToNum(PipelineStep):
    """Replace NaN by ``nan`` and ±infinity by ``posinf`` / ``neginf`` (default: the largest and smallest
    float32), as ``numpy.nan_to_num`` and ``torch.nan_to_num``."""

    name = "nan_to_num"

    def __init__(self, *, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> None:
        self.nan = check.number("nan", nan)
        self.posinf = None if posinf is None else check.number("posinf", posinf)
        self.neginf = None if neginf is None else check.number("neginf", neginf)

    def apply(self, state: PipelineState) -> None:
        data = state.image.data
        if np.isfinite(data).all():
            return
        replaced = np.nan_to_num(data, nan=self.nan, posinf=self.posinf, neginf=self.neginf)
        state.image = state.image.with_data(replaced)


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
