"""Steps after the network: activations, label decisions and connected-component clean-up."""

from __future__ import annotations

from typing import Any

import numpy as np

from deepinfer._exceptions import PipelineError
from deepinfer.pipeline import _checks as check
from deepinfer.pipeline._base import FloatArray, ParamError, PipelineState, PipelineStep

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


class LargestComponent(PipelineStep):
    """Keep only the largest connected component of the nonzero voxels of each channel (their values are
    kept). ``connectivity``: 6, 18 or 26 neighbours (``scipy.ndimage.label``)."""

    name = "largest_component"

    def __init__(self, *, connectivity: int = 26) -> None:
        self.connectivity = check.integer("connectivity", connectivity)
        if self.connectivity not in CONNECTIVITY_RANK:
            raise ParamError("connectivity", f"must be 6, 18 or 26, got {connectivity!r}")

    def apply(self, state: PipelineState) -> None:
        from scipy import ndimage

        structure = ndimage.generate_binary_structure(3, CONNECTIVITY_RANK[self.connectivity])
        data = state.image.data.copy()
        for channel in data:
            labels, count = ndimage.label(channel != 0, structure=structure)
            if count > 1:
                largest = int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
                channel[labels != largest] = 0
        state.image = state.image.with_data(data)


class FillHoles(PipelineStep):
    """Fill the enclosed background holes of each label of each channel (``binary_fill_holes``)."""

    name = "fill_holes"

    def __init__(self) -> None:
        pass

    def apply(self, state: PipelineState) -> None:
        data = state.image.data.copy()
        for channel in data:
            fill_channel_holes(channel)
        state.image = state.image.with_data(data)


def fill_channel_holes(channel: FloatArray) -> None:
    from scipy import ndimage

    for value in np.unique(channel[channel != 0]):
        filled = ndimage.binary_fill_holes(channel == value)
        channel[filled & (channel == 0)] = value
