"""Steps after the network: activations, label decisions and connected-component clean-up."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from deepinfer._exceptions import PipelineError
from deepinfer.pipeline import _checks as check
from deepinfer.pipeline._base import FloatArray, ParamError, PipelineState, PipelineStep
from deepinfer.pipeline._grid import simpleitk

# connectivity in voxels → rank of scipy's generate_binary_structure
CONNECTIVITY_RANK = {6: 1, 18: 2, 26: 3}


class Activation(PipelineStep):
    """``sigmoid`` on every channel, or ``softmax`` across channels."""

    name = "activation"

    def __init__(self, *, function: str) -> None:
        self.function = check.choice("function", function, ("sigmoid", "softmax"))

    def apply(self, state: PipelineState) -> None:
        from scipy import special

        data = state.image.data
        result = special.expit(data) if self.function == "sigmoid" else special.softmax(data, axis=0)
        state.image = state.image.with_data(result)


class Threshold(PipelineStep):
    """1 where the value is above ``value`` (strictly), else 0, per channel."""

    name = "threshold"

    def __init__(self, *, value: float = 0.5) -> None:
        self.value = check.number("value", value)

    def apply(self, state: PipelineState) -> None:
        state.image = state.image.with_data(state.image.data > self.value)


class Argmax(PipelineStep):
    """The index of the largest channel per voxel (one channel out); ``labels`` maps index → label value."""

    name = "argmax"

    def __init__(self, *, labels: list[int] | None = None) -> None:
        if labels is not None:
            labels = [check.integer(f"labels[{i}]", v, minimum=0) for i, v in enumerate(check_list(labels))]
        self.labels = labels

    def apply(self, state: PipelineState) -> None:
        index = np.argmax(state.image.data, axis=0)
        if self.labels is not None:
            if len(self.labels) != state.image.data.shape[0]:
                raise PipelineError(f"argmax: {len(self.labels)} labels given for {state.image.data.shape[0]} channels")
            index = np.asarray(self.labels)[index]
        state.image = state.image.with_data(index[None])


def check_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ParamError("labels", f"must be a list of label values, got {value!r}")
    return value


def label_components(mask: npt.NDArray[np.bool_], connectivity: int) -> tuple[npt.NDArray[np.integer], int]:
    """Connected components of ``mask`` numbered 1..count (0: background), in the array's raster order.

    6 and 26 neighbours use SimpleITK's multi-threaded ``ConnectedComponent`` (and spare the import of
    ``scipy.ndimage``); 18 neighbours, which ITK lacks, use ``scipy.ndimage.label``.
    """
    if connectivity == 18:
        from scipy import ndimage

        structure = ndimage.generate_binary_structure(3, CONNECTIVITY_RANK[18])
        labels, count = ndimage.label(mask, structure=structure)
        return labels, int(count)
    sitk = simpleitk()
    components = sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)), connectivity == 26)
    array: npt.NDArray[np.integer] = sitk.GetArrayFromImage(components)
    return array, int(array.max(initial=0))


class SelectChannel(PipelineStep):
    """Keep one ``channel`` of the image (e.g. the foreground probability of a two-class softmax)."""

    name = "select_channel"

    def __init__(self, *, channel: int) -> None:
        self.channel = check.integer("channel", channel, minimum=0)

    def apply(self, state: PipelineState) -> None:
        data = state.image.data
        if self.channel >= data.shape[0]:
            raise PipelineError(f"select_channel: no channel {self.channel} in an image of {data.shape[0]}")
        state.image = state.image.with_data(data[self.channel : self.channel + 1])


class LargestComponent(PipelineStep):
    """Keep only the largest connected component of each channel's foreground (the values of kept voxels stay).
    ``connectivity``: 6, 18 or 26 neighbours.

    The foreground is every nonzero voxel, or with ``labels`` the voxels of those label values (other labels are
    left alone). ``independent``: each label value keeps its own largest component, instead of all of them
    together (MONAI's ``KeepLargestConnectedComponent(applied_labels, independent)``)."""

    name = "largest_component"

    def __init__(self, *, connectivity: int = 26, labels: list[int] | None = None, independent: bool = False) -> None:
        self.connectivity = check.integer("connectivity", connectivity)
        if self.connectivity not in CONNECTIVITY_RANK:
            raise ParamError("connectivity", f"must be 6, 18 or 26, got {connectivity!r}")
        if labels is not None:
            labels = [check.integer(f"labels[{i}]", v, minimum=1) for i, v in enumerate(check_list(labels))]
        self.labels = labels
        self.independent = check.boolean("independent", independent)

    def apply(self, state: PipelineState) -> None:
        data = state.image.data.copy()
        for channel in data:
            if self.labels is None and not self.independent:
                self.keep_largest(channel, channel != 0)
                continue
            values = self.labels if self.labels is not None else np.unique(channel[channel != 0]).tolist()
            for group in [[value] for value in values] if self.independent else [values]:
                self.keep_largest(channel, np.isin(channel, group))
        state.image = state.image.with_data(data)

    def keep_largest(self, channel: FloatArray, mask: npt.NDArray[np.bool_]) -> None:
        labels, count = label_components(mask, self.connectivity)
        if count > 1:
            largest = int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
            channel[mask & (labels != largest)] = 0


class FillHoles(PipelineStep):
    """Fill the enclosed background holes of each label of each channel: background regions (6-connected)
    that do not reach the image border (``scipy.ndimage.binary_fill_holes``, computed by labelling)."""

    name = "fill_holes"

    def __init__(self) -> None:
        pass

    def apply(self, state: PipelineState) -> None:
        data = state.image.data.copy()
        for channel in data:
            fill_channel_holes(channel)
        state.image = state.image.with_data(data)


def fill_channel_holes(channel: FloatArray) -> None:
    for value in np.unique(channel[channel != 0]):
        channel[enclosed_background(channel != value) & (channel == 0)] = value


def enclosed_background(background: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The voxels of ``background`` whose 6-connected region does not touch the array's border.

    Equal to ``binary_fill_holes(~background) & background``; one labelling instead of an iterated dilation.
    """
    labels, count = label_components(background, 6)
    enclosed = np.ones(count + 1, dtype=bool)
    enclosed[0] = False
    for axis in range(labels.ndim):
        for index in (0, -1):
            enclosed[labels.take(index, axis=axis)] = False
    filled: npt.NDArray[np.bool_] = enclosed[labels]
    return filled
