"""A 2D network run over a plane stack (``infer_planes``) and a classifier's scores per plane (``class_scores``).

``infer_planes`` sends the planes to the network in batches, in the layout it wants (``NCHW`` or ``NHWC``),
with the grey channel replicated for an RGB net. A net that answers one vector per plane is a classifier: its
scores are kept with each plane's index in the input and its physical position, for ``class_scores`` to
record. A net that answers one map per plane is a segmenter: its maps become the working image (a plane stack
with one channel per class), which ``restore_geometry`` puts back onto the input's grid.

``class_scores`` records the per-plane scores (after a softmax or sigmoid, or as the net gave them) as the
card's ``class_scores`` output, with a volume-level decision by the card's rule: ``max`` (each class's highest
plane score), ``mean`` (its mean over the planes) or ``majority`` (the share of planes whose top class it is).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from deepinfer._exceptions import PipelineError
from deepinfer.imaging import Geometry
from deepinfer.pipeline import _checks as check
from deepinfer.pipeline._base import FloatArray, PipelineState, PipelineStep
from deepinfer.pipeline._inference import preferred_batch
from deepinfer.pipeline._planes import plane_name

LAYOUTS = ("NCHW", "NHWC")
RULES = ("max", "mean", "majority")
ACTIVATIONS = ("none", "softmax", "sigmoid")


@dataclass(frozen=True)
class ClassScores:
    """A classifier's scores for each plane of a volume and the volume-level decision.

    ``planes[n]``: the index, along the input's own storage axis closest to the plane normal, of entry ``n``;
    ``positions[n]``: the LPS point (mm) of that plane's centre; ``values[n]``: its score for each class.
    ``volume``: one score per class by ``rule``; ``decision``: the class the rule chooses.
    """

    plane: str
    axis: int
    planes: tuple[int, ...]
    positions: npt.NDArray[np.float64]
    values: FloatArray
    rule: str
    activation: str
    volume: FloatArray
    decision: int

    @classmethod
    def decided(
        cls,
        plane: str,
        axis: int,
        planes: tuple[int, ...],
        positions: npt.NDArray[np.float64],
        values: FloatArray,
        rule: str,
        activation: str = "none",
    ) -> ClassScores:
        """Per-plane ``values`` (already activated) with the volume's scores and decision by ``rule``."""
        volume, decision = decide(values, check.choice("rule", rule, RULES))
        return cls(plane, axis, planes, positions, values, rule, activation, volume, decision)

    @property
    def best(self) -> list[int]:
        """For each class, the entry (row) with its highest score."""
        return [int(i) for i in np.argmax(self.values, axis=0)]

    def top_entries(self, index: int, count: int = 3) -> list[int]:
        """The ``count`` entries with the highest scores of class ``index``, best first."""
        order = np.argsort(-self.values[:, index], kind="stable")
        return [int(i) for i in order[:count]]


@dataclass(frozen=True)
class PlaneScores:
    """The raw per-plane outputs of ``infer_planes``, waiting for ``class_scores``."""

    plane: str
    axis: int
    planes: tuple[int, ...]
    positions: npt.NDArray[np.float64]
    values: FloatArray


def plane_positions(stack: Geometry, source: Geometry) -> tuple[int, tuple[int, ...], npt.NDArray[np.float64]]:
    """The input's storage axis along the plane normal, each plane's index on it and each plane centre (LPS)."""
    rows, columns, count = stack.size
    centre = np.stack([np.full(count, (rows - 1) / 2), np.full(count, (columns - 1) / 2), np.arange(count)])
    points = (stack.index_to_physical @ np.vstack([centre, np.ones(count)]))[:3].T
    normal = stack.direction_matrix[:, 2]
    axis = int(np.argmax(np.abs(source.direction_matrix.T @ normal)))
    continuous = np.linalg.solve(source.index_to_physical, np.vstack([points.T, np.ones(count)]))[:3]
    indices = tuple(round(float(v)) for v in continuous[axis])
    return axis, indices, points


def _batch(planes: FloatArray, channels: int, layout: str) -> FloatArray:
    """``(N, C, rows, columns)`` planes → the network's input: grey replicated to ``channels``, in ``layout``."""
    if planes.shape[1] != channels:
        if planes.shape[1] != 1:
            raise PipelineError(
                f"infer_planes: the network takes {channels} channel(s), the image has {planes.shape[1]}"
            )
        planes = np.repeat(planes, channels, axis=1)
    return np.ascontiguousarray(planes.transpose(0, 2, 3, 1) if layout == "NHWC" else planes, dtype=np.float32)


class InferPlanes(PipelineStep):
    """Run a 2D network on every plane of the stack, ``batch_size`` planes per call (more when the runtime runs
    several at once). ``channels``: what the net takes (3 for an RGB net: the grey plane is copied into each);
    ``layout``: ``NCHW`` or ``NHWC``; ``skip_blank``: planes whose voxels all hold one value are not sent (a
    classifier gives them no entry; a segmenter's maps are 0 there). Progress: ``("planes", done, total)``."""

    name = "infer_planes"

    def __init__(
        self,
        *,
        network: str = "model",
        channels: int = 1,
        layout: str = "NCHW",
        batch_size: int = 16,
        skip_blank: bool = False,
    ) -> None:
        self.network = check.member_name("network", network)
        self.channels = check.integer("channels", channels, minimum=1)
        self.layout = check.choice("layout", layout, LAYOUTS)
        self.batch_size = check.integer("batch_size", batch_size, minimum=1)
        self.skip_blank = check.boolean("skip_blank", skip_blank)

    def artifacts(self) -> list[str]:
        return [self.network]

    def apply(self, state: PipelineState) -> None:
        plane = plane_name(state, self.name)
        data = state.image.data
        total = data.shape[3]
        flat = data.reshape(-1, total)
        kept = np.flatnonzero(flat.min(axis=0) < flat.max(axis=0)) if self.skip_blank else np.arange(total)
        if kept.size == 0:
            what = f"all {total} {plane} planes are blank" if total else f"the image has no {plane} plane"
            raise PipelineError(f"infer_planes: no plane to run the network on ({what})")
        network = state.networks(self.network)
        results: list[FloatArray] = []
        state.progress("planes", 0, int(kept.size))
        done = 0
        while done < kept.size:
            group = kept[done : done + preferred_batch(network, self.batch_size)]
            batch = _batch(np.moveaxis(data[..., group], 3, 0), self.channels, self.layout)
            answer = np.asarray(network(batch), dtype=np.float32)
            if answer.ndim not in (2, 4) or answer.shape[0] != len(group):
                raise PipelineError(
                    f"infer_planes: the network returned shape {answer.shape} for {len(group)} planes; expected "
                    "(planes, classes) from a classifier or (planes, classes, rows, columns) from a segmenter"
                )
            results.append(answer)
            done += len(group)
            state.progress("planes", done, int(kept.size))
        answers = np.concatenate(results)
        if answers.ndim == 2:
            axis, indices, points = plane_positions(state.image.geometry, state.source.geometry)
            picked = tuple(indices[int(k)] for k in kept)
            scores = PlaneScores(plane, axis, picked, points[kept], answers)
            state.plane_scores = scores
            return
        maps = answers.transpose(0, 2, 3, 1) if self.layout == "NHWC" else answers
        if maps.shape[2:] != data.shape[1:3]:
            raise PipelineError(
                f"infer_planes: the network returned maps of {maps.shape[2:]} for planes of {data.shape[1:3]}"
            )
        stack = np.zeros((maps.shape[1], *data.shape[1:]), dtype=np.float32)
        stack[..., kept] = np.moveaxis(maps, 0, 3)
        state.image = state.image.with_data(stack)


def _activate(values: FloatArray, activation: str) -> FloatArray:
    from scipy import special

    if activation == "softmax":
        return np.asarray(special.softmax(values, axis=1), dtype=np.float32)
    if activation == "sigmoid":
        return np.asarray(special.expit(values), dtype=np.float32)
    return values


def decide(values: FloatArray, rule: str) -> tuple[FloatArray, int]:
    """One score per class for the whole volume by ``rule``, and the class it chooses (the first on a tie)."""
    if rule == "max":
        volume = values.max(axis=0)
    elif rule == "mean":
        volume = values.mean(axis=0)
    else:  # the share of planes each class tops; a tie goes to the higher mean score
        tops = np.argmax(values, axis=1)
        volume = np.bincount(tops, minlength=values.shape[1]) / values.shape[0]
        tied = np.flatnonzero(volume == volume.max())
        means = values.mean(axis=0)
        return np.asarray(volume, dtype=np.float32), int(tied[np.argmax(means[tied])])
    volume = np.asarray(volume, dtype=np.float32)
    return volume, int(np.argmax(volume))


class ClassScoresStep(PipelineStep):
    """Record the per-plane scores of the last ``infer_planes`` as the ``class_scores`` output ``name``:
    ``activation`` ``softmax``, ``sigmoid`` or ``none`` (the net already ends in one); the volume-level
    decision by ``rule`` (``max``, ``mean`` or ``majority`` over the planes)."""

    name = "class_scores"

    def __init__(self, *, name: str, activation: str = "softmax", rule: str = "max") -> None:
        self.member = check.member_name("name", name)
        self.activation = check.choice("activation", activation, ACTIVATIONS)
        self.rule = check.choice("rule", rule, RULES)

    def records(self) -> list[str]:
        return [self.member]

    def apply(self, state: PipelineState) -> None:
        raw = state.plane_scores
        if raw is None:
            raise PipelineError(f"class_scores {self.member!r}: no plane scores (put an 'infer_planes' step first)")
        values = _activate(raw.values, self.activation)
        state.scores[self.member] = ClassScores.decided(
            raw.plane, raw.axis, raw.planes, raw.positions, values, self.rule, self.activation
        )
