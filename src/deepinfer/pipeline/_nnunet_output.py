"""Steps around nnU-Net v2's inference that are not spatial: several inputs as channels, region-based outputs
and nnU-Net's postprocessing.

``stack_inputs`` puts the card's other inputs after the first as channels (nnU-Net's ``channel_names``: the
images of one case share one grid; like nnU-Net's reader, a different size or spacing is refused, and so is a
different origin or direction, which nnU-Net only warns about). ``regions_nnunet`` is nnU-Net's
``LabelManager.convert_probabilities_to_segmentation`` for region-based training: each region's sigmoid
probability above 0.5 paints its value, in ``regions_class_order``, later regions over earlier ones.
``largest_component_nnunet`` is nnU-Net's ``remove_all_but_largest_component_from_segmentation``: the voxels of
the given labels together, full (26-) connectivity, every component as large as the largest kept, the rest set
to background.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepinfer._exceptions import PipelineError
from deepinfer.pipeline import _checks as check
from deepinfer.pipeline._base import ParamError, PipelineState, PipelineStep
from deepinfer.pipeline._postprocess import label_components

MAX_INPUTS = 16
MAX_LABEL = 65535
GRID_TOLERANCE = 1e-4  # mm (origin, spacing) and direction cosines: a header's rounding, not another grid


def _values(name: str, value: Any, minimum: int, most: int) -> list[int]:
    if not isinstance(value, list) or not 1 <= len(value) <= most:
        raise ParamError(name, f"must be a list of 1 to {most} label values, got {value!r}")
    values = [check.integer(f"{name}[{i}]", v, minimum=minimum) for i, v in enumerate(value)]
    if max(values) > MAX_LABEL:
        raise ParamError(name, f"label values are at most {MAX_LABEL}")
    return values


class StackInputs(PipelineStep):
    """Append the card inputs named in ``inputs`` (in order) as channels after the working image's; each must
    lie on the first input's grid. It must come first, before any step changes the grid."""

    name = "stack_inputs"

    def __init__(self, *, inputs: Any) -> None:
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= MAX_INPUTS:
            raise ParamError("inputs", f"must be a list of 1 to {MAX_INPUTS} card input names")
        self.inputs = [check.member_name(f"inputs[{i}]", n) for i, n in enumerate(inputs)]

    def reads(self) -> list[str]:
        return list(self.inputs)

    def apply(self, state: PipelineState) -> None:
        grid = state.source.geometry
        if state.undo or not state.image.geometry.same_as(grid):
            raise PipelineError("stack_inputs: it must come before the steps that change the grid")
        channels = [state.image.data]
        for name in self.inputs:
            volume = state.inputs.get(name)
            if volume is None:
                raise PipelineError(f"stack_inputs: no input named {name!r} was given")
            if volume.geometry.size != grid.size:
                raise PipelineError(
                    f"stack_inputs: input {name!r} has {list(volume.geometry.size)} voxels, the first input "
                    f"{list(grid.size)}; the images of one case must share one grid (resample them first)"
                )
            if not volume.geometry.same_as(grid, tolerance=GRID_TOLERANCE):
                raise PipelineError(
                    f"stack_inputs: input {name!r} is not on the first input's grid (origin, spacing or "
                    "direction differ); the images of one case must share one grid (resample them first)"
                )
            channels.append(np.asarray(volume.array, dtype=np.float32)[None])
        state.image = state.image.with_data(np.concatenate(channels))


class RegionsNnunet(PipelineStep):
    """Region probabilities (one channel per region, sigmoid applied) → one label channel: voxels above
    ``threshold`` (0.5) in channel i take ``order[i]``, in that order (nnU-Net's ``regions_class_order``)."""

    name = "regions_nnunet"

    def __init__(self, *, order: Any, threshold: float = 0.5) -> None:
        self.order = _values("order", order, 1, 255)
        self.threshold = check.number("threshold", threshold, 0.0, 1.0)

    def apply(self, state: PipelineState) -> None:
        data = state.image.data
        if data.shape[0] != len(self.order):
            raise PipelineError(f"regions_nnunet: {len(self.order)} regions for {data.shape[0]} channels")
        labels = np.zeros(data.shape[1:], dtype=np.float32)
        for channel, value in zip(data, self.order, strict=True):
            labels[channel > self.threshold] = value
        state.image = state.image.with_data(labels[None])


class LargestComponentNnunet(PipelineStep):
    """Keep the largest 26-connected component of the voxels whose label is in ``labels`` (all of them
    together), and every component of the same size; the other voxels of those labels become ``0``."""

    name = "largest_component_nnunet"

    def __init__(self, *, labels: Any) -> None:
        self.labels = _values("labels", labels, 1, 255)

    def apply(self, state: PipelineState) -> None:
        data = state.image.data
        if data.shape[0] != 1:
            raise PipelineError(f"largest_component_nnunet: needs one label channel, got {data.shape[0]}")
        mask = np.isin(data[0], self.labels)
        components, count = label_components(mask, 26)
        if count <= 1:
            return
        sizes = np.bincount(components.ravel())[1:]
        keep = np.isin(components, np.flatnonzero(sizes == sizes.max()) + 1)
        result = data.copy()
        result[0][mask & ~keep] = 0
        state.image = state.image.with_data(result)
