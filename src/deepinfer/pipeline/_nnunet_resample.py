"""``resample_nnunet``: nnU-Net v2's ``resample_data_or_seg_to_shape``, separate z included.

nnU-Net resamples an image whose spacing is anisotropic (largest / smallest above 3, in the image's spacing or
else in the target's) in two parts: each slice across the coarse axis in 2D with the spline ``order``, then
along the coarse axis alone with ``order_z`` (0: nearest). The coarse axis is the one whose spacing is the
largest; when two or three axes share the largest spacing nnU-Net resamples in 3D. The same rule runs for the
data going in and for the logits coming back (with the configuration's probability orders), in nnU-Net's
direction of each: the input's spacing is checked first going in, the plans' spacing first coming back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from deepinfer._exceptions import PipelineError
from deepinfer.pipeline import _checks as check
from deepinfer.pipeline._base import FloatArray, ParamError, PipelineState, PipelineStep, Tensor
from deepinfer.pipeline._grid import centred
from deepinfer.pipeline._spatial import push_undo

ANISOTROPY_THRESHOLD = 3.0  # nnU-Net's ANISO_THRESHOLD
SEPARATE_Z = ("auto", "always", "never")  # nnU-Net's force_separate_z: None, True, False
Float64Array = npt.NDArray[np.float64]


def lowres_axes(spacing: Sequence[float]) -> list[int]:
    """The axes with the largest spacing (nnU-Net's ``get_lowres_axis``)."""
    values = np.asarray(spacing, dtype=float)
    return [int(a) for a in np.where(max(values) / values == 1)[0]]


def separate_z_axis(mode: str, current: Sequence[float], new: Sequence[float], threshold: float) -> int | None:
    """nnU-Net's ``determine_do_sep_z_and_axis``: the axis to resample apart, or None for plain 3D."""
    if mode == "never":
        return None
    if mode == "always" or max(current) / min(current) > threshold:
        axes = lowres_axes(current)
    elif max(new) / min(new) > threshold:
        axes = lowres_axes(new)
    else:
        return None
    return axes[0] if len(axes) == 1 else None


def resize_3d(data: FloatArray, shape: Sequence[int], order: int) -> Float64Array:
    """Each channel resized onto ``shape`` in index space (scikit-image, edge mode, no anti-aliasing)."""
    from skimage.transform import resize as sk_resize

    channels = [
        sk_resize(c.astype(float), tuple(shape), order, mode="edge", anti_aliasing=False)  # type: ignore[no-untyped-call]
        for c in data
    ]
    return np.stack(channels)


def resize_separate_z(data: FloatArray, shape: Sequence[int], axis: int, order: int, order_z: int) -> Float64Array:
    """Slices across ``axis`` resized in 2D with ``order``, then ``axis`` alone with ``order_z`` (nnU-Net's
    ``resample_data_or_seg`` with ``do_separate_z``: the coordinates of ``map_coordinates``, mode nearest)."""
    from scipy.ndimage import map_coordinates
    from skimage.transform import resize as sk_resize

    plane = [n for a, n in enumerate(shape) if a != axis]
    result = np.zeros((data.shape[0], *shape))
    for index, channel in enumerate(data.astype(float)):
        moved = np.moveaxis(channel, axis, 0)
        slices = [
            sk_resize(s, tuple(plane), order, mode="edge", anti_aliasing=False)  # type: ignore[no-untyped-call]
            for s in moved
        ]
        in_plane = np.moveaxis(np.stack(slices), 0, axis)
        if in_plane.shape[axis] == shape[axis]:
            result[index] = in_plane
            continue
        scales = [old / new for old, new in zip(in_plane.shape, shape, strict=True)]
        grid = np.mgrid[: shape[0], : shape[1], : shape[2]].astype(float)
        coordinates = np.array([scale * (g + 0.5) - 0.5 for scale, g in zip(scales, grid, strict=True)])
        result[index] = map_coordinates(in_plane, coordinates, order=order_z, mode="nearest")
    return result


def resample_like_nnunet(
    data: FloatArray,
    shape: Sequence[int],
    current: Sequence[float],
    new: Sequence[float],
    orders: tuple[int, int],
    separate_z: str,
    threshold: float,
) -> Float64Array | FloatArray:
    """``data`` on ``shape`` as nnU-Net's ``resample_data_or_seg_to_shape`` (not a segmentation); ``data``
    itself when the shape does not change (as nnU-Net); ``orders``: (order, order_z)."""
    if tuple(shape) == tuple(data.shape[1:]):
        return data
    axis = separate_z_axis(separate_z, current, new, threshold)
    if axis is None:
        return resize_3d(data, shape, orders[0])
    return resize_separate_z(data, shape, axis, orders[0], orders[1])


def in_axis_order(
    data: FloatArray, shape: Sequence[int], current: Sequence[float], new: Sequence[float], axes: list[int], **kw: Any
) -> Float64Array | FloatArray:
    """``resample_like_nnunet`` on ``data`` with its axes put in the order ``axes`` (deepinfer axes, nnU-Net's
    first axis first) and back: the interpolation's sums then run in nnU-Net's memory order, so its results
    round as nnU-Net's do (a float64 result on a float16 tie rounds by its last bit)."""
    if axes == [0, 1, 2] or tuple(shape) == tuple(data.shape[1:]):
        return resample_like_nnunet(data, shape, current, new, **kw)
    moved = np.ascontiguousarray(np.transpose(data, [0, *(a + 1 for a in axes)]))
    result = resample_like_nnunet(
        moved, [shape[a] for a in axes], [current[a] for a in axes], [new[a] for a in axes], **kw
    )
    back = [axes.index(a) for a in range(3)]
    return result.transpose(0, *(b + 1 for b in back))


def spline_order(name: str, value: Any) -> int:
    order = check.integer(name, value, minimum=0)
    if order > 5:
        raise ParamError(name, f"must be a spline order 0..5, got {value!r}")
    return order


class ResampleNnunet(PipelineStep):
    """Resample to ``spacing`` (mm) on ``round(size · old spacing / spacing)`` voxels over the same field of
    view as nnU-Net does: spline ``order`` (nnU-Net's data: 3), and for anisotropic grids slices apart with
    ``order_z`` along the coarse axis (``separate_z``: ``auto`` as nnU-Net's ``force_separate_z: null``,
    ``always`` / ``never`` as true / false; ``anisotropy_threshold`` 3). The undo resamples back onto the
    saved grid with ``inverse_order`` / ``inverse_order_z`` (nnU-Net's probabilities: 1 / 0), rounded to
    float16 with ``inverse_float16`` (nnU-Net resamples its float16 logits into a float16 array).
    ``axis_order``: nnU-Net's array axes as deepinfer axes (``[2, 1, 0]`` for SimpleITK's z, y, x); the
    resampling runs on the array in that order, as nnU-Net's does, so that it rounds the same way."""

    name = "resample_nnunet"

    def __init__(
        self,
        *,
        spacing: Any,
        order: int = 3,
        inverse_order: int = 1,
        inverse_float16: bool = False,
        order_z: int = 0,
        inverse_order_z: int = 0,
        separate_z: str = "auto",
        anisotropy_threshold: float = ANISOTROPY_THRESHOLD,
        axis_order: Any = (0, 1, 2),
    ) -> None:
        self.axis_order = check.axis_order("axis_order", axis_order)
        self.spacing = check.positive_triple("spacing", spacing)
        self.inverse_float16 = check.boolean("inverse_float16", inverse_float16)
        self.orders = (spline_order("order", order), spline_order("order_z", order_z))
        self.inverse_orders = (
            spline_order("inverse_order", inverse_order),
            spline_order("inverse_order_z", inverse_order_z),
        )
        self.separate_z = check.choice("separate_z", separate_z, SEPARATE_Z)
        self.threshold = check.number("anisotropy_threshold", anisotropy_threshold, 1.0, 1e3)

    def apply(self, state: PipelineState) -> None:
        before = state.image.geometry
        old, spacing = np.asarray(before.size), list(before.spacing)
        shape = tuple(round(s / t * n) for s, t, n in zip(spacing, self.spacing, before.size, strict=True))
        if min(shape) < 1:
            raise PipelineError(f"resample_nnunet: the image would have {list(shape)} voxels")
        after = centred(before, np.asarray(spacing) * old / np.asarray(shape), (shape[0], shape[1], shape[2]))
        forward = in_axis_order(
            state.image.data, shape, spacing, self.spacing, self.axis_order, **self.options(self.orders)
        )
        state.image = Tensor(forward.astype(np.float32, copy=False), after)

        def back(values: FloatArray) -> Tensor:
            restored = in_axis_order(
                values, before.size, self.spacing, spacing, self.axis_order, **self.options(self.inverse_orders)
            )
            if self.inverse_float16 and restored is not values:  # from float64 in one rounding, as nnU-Net's array
                return Tensor(restored.astype(np.float16).astype(np.float32), before)
            return Tensor(restored.astype(np.float32, copy=False), before)

        push_undo(state, self.name, after, back)

    def options(self, orders: tuple[int, int]) -> dict[str, Any]:
        return {"orders": orders, "separate_z": self.separate_z, "threshold": self.threshold}
