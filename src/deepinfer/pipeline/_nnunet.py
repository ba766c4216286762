"""Steps that compute what nnU-Net v2's predictor computes, for cards imported from nnU-Net results folders.

nnU-Net works on SimpleITK's array order (z, y, x); these steps take every per-axis value in deepinfer's
(i, j, k) order, which the importer converts. ``crop_nonzero`` is nnU-Net's ``crop_to_nonzero`` (the box of
the hole-filled nonzero mask), ``normalize_nnunet`` its ``ZScoreNormalization`` / ``CTNormalization`` and
``sliding_window_nnunet`` its ``predict_sliding_window_return_logits`` (window starts, Gaussian importance map,
mirroring, fold average). ``resample_nnunet`` is in ``_nnunet_resample``, the outputs' steps in ``_nnunet_output``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from deepinfer._exceptions import PipelineError
from deepinfer.pipeline import _checks as check
from deepinfer.pipeline._base import FloatArray, Network, ParamError, PipelineState, PipelineStep
from deepinfer.pipeline._inference import run_network
from deepinfer.pipeline._spatial import push_box

SCHEMES = ("zscore", "ct", "none")
MAX_NETWORKS = 16


def nonzero_mask(data: FloatArray) -> np.ndarray:
    """Any channel nonzero, holes filled (nnU-Net's ``create_nonzero_mask``)."""
    from scipy.ndimage import binary_fill_holes

    mask: np.ndarray = binary_fill_holes(np.any(data != 0, axis=0))
    return mask


class CropNonzero(PipelineStep):
    """Crop to the bounding box of the nonzero voxels (any channel, holes filled); the undo pads back with
    ``fill``. An image with no nonzero voxel is kept whole, as nnU-Net does."""

    name = "crop_nonzero"

    def __init__(self, *, fill: float = 0.0) -> None:
        self.fill = check.number("fill", fill)

    def apply(self, state: PipelineState) -> None:
        mask = nonzero_mask(state.image.data)
        size = np.asarray(mask.shape)
        if mask.any():
            found = np.argwhere(mask)
            start, stop = found.min(axis=0), found.max(axis=0) + 1
        else:
            start, stop = np.zeros(3, dtype=np.int64), size
        push_box(state, self.name, start, stop, self.fill)


def channel_scheme(index: int, value: Any) -> dict[str, Any]:
    """One channel's normalization: ``{"scheme": "zscore", "use_mask": bool}``, ``{"scheme": "ct", "mean",
    "std", "lower", "upper"}`` or ``{"scheme": "none"}``."""
    where = f"channels[{index}]"
    if not isinstance(value, dict):
        raise ParamError(where, f"must be an object, got {value!r}")
    scheme = check.choice(f"{where}.scheme", value.get("scheme"), SCHEMES)
    checked: dict[str, Any] = {"scheme": scheme}
    if scheme == "zscore":
        checked["use_mask"] = check.boolean(f"{where}.use_mask", value.get("use_mask", False))
    if scheme == "ct":
        for key in ("mean", "std", "lower", "upper"):
            checked[key] = check.number(f"{where}.{key}", value.get(key))
        if checked["lower"] > checked["upper"]:
            raise ParamError(f"{where}.lower", "must not exceed upper")
    return checked


class NormalizeNnunet(PipelineStep):
    """Per channel, nnU-Net's normalization in float32: ``zscore`` (over the hole-filled nonzero mask, only
    those voxels changed, with ``use_mask``; else over all voxels), ``ct`` (clip to ``[lower, upper]``, then
    ``(x - mean) / std`` with the dataset's statistics) or ``none``. The std is floored at 1e-8."""

    name = "normalize_nnunet"

    def __init__(self, *, channels: Any) -> None:
        if not isinstance(channels, list) or not channels:
            raise ParamError("channels", "must be a non-empty list, one entry per input channel")
        self.channels = [channel_scheme(i, value) for i, value in enumerate(channels)]

    def apply(self, state: PipelineState) -> None:
        data = state.image.data
        if data.shape[0] != len(self.channels):
            raise PipelineError(f"normalize_nnunet: {len(self.channels)} channel schemes for {data.shape[0]} channels")
        mask = nonzero_mask(data) if any(c.get("use_mask") for c in self.channels) else None
        result = data.astype(np.float32, copy=True)
        for channel, scheme in zip(result, self.channels, strict=True):
            normalize_channel(channel, scheme, mask)
        state.image = state.image.with_data(result)


def normalize_channel(image: FloatArray, scheme: dict[str, Any], mask: np.ndarray | None) -> None:
    """Normalize one float32 channel in place."""
    if scheme["scheme"] == "ct":
        np.clip(image, scheme["lower"], scheme["upper"], out=image)
        image -= np.float32(scheme["mean"])
        image /= np.float32(max(scheme["std"], 1e-8))
    elif scheme["scheme"] == "zscore" and scheme["use_mask"]:
        assert mask is not None
        values = image[mask]
        image[mask] = (values - values.mean()) / max(values.std(), 1e-8)
    elif scheme["scheme"] == "zscore":
        mean, std = image.mean(), image.std()
        image -= mean
        image /= max(std, 1e-8)


def window_starts(size: int, patch: int, step: float) -> list[int]:
    """nnU-Net's ``compute_steps_for_sliding_window`` along one axis (``size`` ≥ ``patch``)."""
    count = int(np.ceil((size - patch) / (patch * step))) + 1
    interval = (size - patch) / (count - 1) if count > 1 else 0.0
    return [int(np.round(interval * i)) for i in range(count)]


def gaussian_weights(patch: Sequence[int]) -> FloatArray:
    """nnU-Net's ``compute_gaussian`` (σ = patch/8, a delta filtered with truncation at 4σ, peak 10, rounded
    to float16 as nnU-Net's predictor keeps it, zeros raised to the smallest nonzero weight)."""
    from scipy.ndimage import gaussian_filter

    delta = np.zeros(tuple(patch))
    delta[tuple(p // 2 for p in patch)] = 1
    weights = gaussian_filter(delta, [p / 8 for p in patch], 0, mode="constant", cval=0)
    weights /= weights.max() / 10
    # nnU-Net keeps the map in float16; torch converts float64 to float16 through float32 (two roundings, which
    # differ from one at a few small weights): the same conversion gives the same weights, bit for bit
    half = weights.astype(np.float32).astype(np.float16)
    half[half == 0] = half[half != 0].min()
    result: FloatArray = half.astype(np.float32)
    return result


def window_corners(starts: list[list[int]], order: list[int]) -> list[tuple[int, ...]]:
    """Every window's start (deepinfer's axes), ``order[0]``'s axis in the outermost loop."""
    nested = itertools.product(*(starts[axis] for axis in order))
    back = [order.index(axis) for axis in range(3)]
    return [tuple(corner[b] for b in back) for corner in nested]


class SlidingWindowNnunet(PipelineStep):
    """nnU-Net's sliding-window prediction: windows of ``roi`` every ``step_size`` · roi (nnU-Net's spacing
    of the starts), Gaussian-weighted average, each window also run mirrored over every combination of
    ``mirror_axes`` when ``mirror`` (flipped back and averaged), and the logits of the ``networks`` (one per
    fold) averaged. An image smaller than the window is padded with zeros, split evenly, and unpadded.
    ``accumulate``: ``"float16"`` sums, divides and averages the folds in float16 as nnU-Net's predictor does
    (float32 is more precise). Float16 sums depend on their order: ``axis_order`` names nnU-Net's array axes
    as deepinfer axes (its first axis first; ``[2, 1, 0]`` for SimpleITK's z, y, x), and the windows are visited
    in nnU-Net's nested loops (its first axis outermost); the mirrored predictions are added in the order of
    ``mirror_axes`` as given (nnU-Net's ``itertools.combinations`` of its axes). The step then adds the same
    numbers in the same order as nnU-Net's predictor."""

    name = "sliding_window_nnunet"

    def __init__(
        self,
        *,
        roi: Any,
        networks: Any,
        step_size: float = 0.5,
        mirror: bool = True,
        mirror_axes: Any = (0, 1, 2),
        accumulate: str = "float32",
        axis_order: Any = (0, 1, 2),
    ) -> None:
        self.accumulate = check.choice("accumulate", accumulate, ("float32", "float16"))
        self.roi = check.int_triple("roi", roi, minimum=1)
        if not isinstance(networks, list) or not 1 <= len(networks) <= MAX_NETWORKS:
            raise ParamError("networks", f"must be a list of 1 to {MAX_NETWORKS} network artifact names")
        self.networks = [check.member_name(f"networks[{i}]", n) for i, n in enumerate(networks)]
        self.step_size = check.number("step_size", step_size, 0.01, 1.0)
        if self.step_size <= 0:
            raise ParamError("step_size", "must be above 0")
        self.mirror = check.boolean("mirror", mirror)
        if not isinstance(mirror_axes, list | tuple) or any(a not in (0, 1, 2) for a in mirror_axes):
            raise ParamError("mirror_axes", f"must list axes 0, 1, 2, got {mirror_axes!r}")
        self.mirror_axes = list(dict.fromkeys(int(a) for a in mirror_axes))  # as given: the order of the sums
        self.axis_order = check.axis_order("axis_order", axis_order)

    def artifacts(self) -> list[str]:
        return list(self.networks)

    def flips(self) -> list[tuple[int, ...]]:
        if not self.mirror:
            return []
        axes = [a + 2 for a in self.mirror_axes]
        return [c for n in range(1, len(axes) + 1) for c in itertools.combinations(axes, n)]

    def predict(self, network: Network, window: FloatArray) -> FloatArray:
        prediction = run_network(network, window, self.name)
        flips = self.flips()
        for axes in flips:
            flipped = np.ascontiguousarray(np.flip(window, axes))
            prediction = prediction + np.flip(run_network(network, flipped, self.name), axes)
        return prediction / np.float32(len(flips) + 1) if flips else prediction

    def apply(self, state: PipelineState) -> None:
        data = state.image.data
        extra = [max(r - n, 0) for r, n in zip(self.roi, data.shape[1:], strict=True)]
        widths = [(e // 2, e - e // 2) for e in extra]
        padded = np.pad(data, [(0, 0), *widths]) if any(extra) else data
        starts = [window_starts(n, r, self.step_size) for n, r in zip(padded.shape[1:], self.roi, strict=True)]
        corners = window_corners(starts, self.axis_order)
        weights = gaussian_weights(self.roi)
        total = len(corners) * len(self.networks)
        state.progress("sliding window", 0, total)
        kind = np.float16 if self.accumulate == "float16" else np.float32
        summed: np.ndarray | None = None
        for index, name in enumerate(self.networks):
            logits = self.blend(state.networks(name), padded, corners, weights, state, index * len(corners), total)
            summed = logits if summed is None else (summed.astype(np.float32) + logits).astype(kind)
        assert summed is not None
        if len(self.networks) > 1:
            summed = (summed.astype(np.float32) / np.float32(len(self.networks))).astype(kind)
        inside = tuple(slice(b, b + n) for (b, _), n in zip(widths, data.shape[1:], strict=True))
        state.image = state.image.with_data(np.ascontiguousarray(summed[(slice(None), *inside)]))

    def blend(
        self,
        network: Network,
        data: FloatArray,
        corners: list[tuple[int, ...]],
        weights: FloatArray,
        state: PipelineState,
        done: int,
        total: int,
    ) -> np.ndarray:
        kind = np.float16 if self.accumulate == "float16" else np.float32
        logits: np.ndarray | None = None
        count = np.zeros(data.shape[1:], dtype=kind)
        for corner in corners:
            window = tuple(slice(s, s + r) for s, r in zip(corner, self.roi, strict=True))
            prediction = self.predict(network, data[(slice(None), *window)][None])[0] * weights
            if logits is None:
                logits = np.zeros((prediction.shape[0], *data.shape[1:]), dtype=kind)
            where = (slice(None), *window)
            logits[where] = (logits[where].astype(np.float32) + prediction).astype(kind)
            count[window] = (count[window].astype(np.float32) + weights).astype(kind)
            done += 1
            state.progress("sliding window", done, total)
        assert logits is not None
        return (logits.astype(np.float32) / count.astype(np.float32)).astype(kind)
