"""Steps that record results and keep intermediate images: ``output``, ``save``, ``load``."""

from __future__ import annotations

import numpy as np

from deepinfer._exceptions import PipelineError
from deepinfer.imaging import Volume
from deepinfer.pipeline import _checks as check
from deepinfer.pipeline._base import FloatArray, PipelineState, PipelineStep, Snapshot

OUTPUT_DTYPES = ("float32", "uint8", "uint16", "int16", "int32")


def cast(values: FloatArray, dtype: str, output: str) -> np.ndarray:
    """Float voxels → the output's dtype; integer outputs are rounded and must fit the type."""
    if dtype == "float32":
        return values.astype(np.float32)
    info = np.iinfo(dtype)
    rounded = np.rint(values)
    if rounded.size and (rounded.min() < info.min or rounded.max() > info.max):
        raise PipelineError(f"output {output!r}: values {rounded.min():g}..{rounded.max():g} do not fit {dtype}")
    return rounded.astype(dtype)


class Output(PipelineStep):
    """Record one channel of the current image as the card output member ``name``.

    ``dtype``: ``float32`` for probability maps and other real values, ``uint8``/``uint16`` (or ``int16``,
    ``int32``) for labelmaps. The image must be on the input's grid (put ``restore_geometry`` first).
    """

    name = "output"

    def __init__(self, *, name: str, dtype: str = "float32", channel: int = 0) -> None:
        self.member = check.member_name("name", name)
        self.dtype = check.choice("dtype", dtype, OUTPUT_DTYPES)
        self.channel = check.integer("channel", channel, minimum=0)

    def records(self) -> list[str]:
        return [self.member]

    def apply(self, state: PipelineState) -> None:
        image = state.image
        if not image.geometry.same_as(state.source.geometry):
            raise PipelineError(
                f"output {self.member!r}: the image is not on the input's grid (add restore_geometry before it)"
            )
        if self.channel >= image.data.shape[0]:
            raise PipelineError(f"output {self.member!r}: channel {self.channel} of {image.data.shape[0]}")
        values = cast(image.data[self.channel], self.dtype, self.member)
        state.outputs[self.member] = Volume(values, state.source.geometry)


class Save(PipelineStep):
    """Keep the current image (and its undo stack) under ``slot`` for a later ``load``."""

    name = "save"

    def __init__(self, *, slot: str) -> None:
        self.slot = check.member_name("slot", slot)

    def apply(self, state: PipelineState) -> None:
        state.slots[self.slot] = Snapshot(state.image, tuple(state.undo))


class Load(PipelineStep):
    """Make the image saved under ``slot`` current again (with the undo stack it had)."""

    name = "load"

    def __init__(self, *, slot: str) -> None:
        self.slot = check.member_name("slot", slot)

    def apply(self, state: PipelineState) -> None:
        if self.slot not in state.slots:
            raise PipelineError(f"load: nothing was saved in slot {self.slot!r}")
        snapshot = state.slots[self.slot]
        state.image = snapshot.image
        state.undo = list(snapshot.undo)
