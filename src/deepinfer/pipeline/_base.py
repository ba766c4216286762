"""The pipeline machinery: a working image, pipeline steps found by name, and the run loop.

A card's ``pipeline`` is a list of ``{"step": NAME, "params": {...}}``. Each NAME is a small subclass of
:class:`PipelineStep` that registers itself through ``__init_subclass__`` (no if-ladders). Steps transform a
:class:`PipelineState`; steps that change geometry push an *undo* onto the state so that ``restore_geometry``
can bring the result back onto the input's exact grid.

A parameter value in a step may be a reference to one of the card's typed parameters, written
``{"param": "threshold"}``; it is replaced by the user's value (or the default). That is the only
indirection a card has: no expressions. Checking and building steps from a card is ``_card_check.py``'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from deepinfer._exceptions import PipelineError
from deepinfer.imaging import Geometry, Volume

if TYPE_CHECKING:
    from deepinfer.pipeline._plane_inference import ClassScores, PlaneScores

FloatArray = npt.NDArray[np.float32]


class Network(Protocol):
    """A loaded network: batch in, batch out (``(N, C, X, Y, Z)`` float32 arrays)."""

    def __call__(self, batch: FloatArray) -> FloatArray: ...


class NetworkProvider(Protocol):
    """Loads the network stored in the card artifact with this name (cached by the caller)."""

    def __call__(self, artifact: str) -> Network: ...


class ProgressCallback(Protocol):
    def __call__(self, task: str, done: int, total: int) -> None: ...


def no_progress(task: str, done: int, total: int) -> None:
    return None


@dataclass
class Tensor:
    """The working image: channel-first voxels ``(C, I, J, K)`` on a grid."""

    data: FloatArray
    geometry: Geometry

    def __post_init__(self) -> None:
        if self.data.ndim != 4 or tuple(self.data.shape[1:]) != self.geometry.size:
            raise PipelineError(
                f"internal: tensor shape {self.data.shape} does not match grid size {self.geometry.size}"
            )

    @classmethod
    def from_volume(cls, volume: Volume) -> Tensor:
        return cls(np.asarray(volume.array, dtype=np.float32)[None], volume.geometry)

    def channel(self, index: int = 0) -> Volume:
        return Volume(self.data[index], self.geometry)

    def with_data(self, data: npt.NDArray[Any]) -> Tensor:
        """Same grid, new voxels (any channel count), stored as float32."""
        return Tensor(np.asarray(data, dtype=np.float32), self.geometry)


Undo = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Snapshot:
    """A saved working image with the undo stack that belongs to its grid (``save`` / ``load`` steps)."""

    image: Tensor
    undo: tuple[Undo, ...]


@dataclass
class PipelineState:
    """Everything a step may read or change."""

    image: Tensor
    source: Volume
    params: Mapping[str, Any]
    networks: NetworkProvider
    progress: ProgressCallback = no_progress
    undo: list[Undo] = field(default_factory=list)
    slots: dict[str, Snapshot] = field(default_factory=dict)
    values: dict[str, dict[str, float]] = field(default_factory=dict)  # named statistics (``percentiles``)
    outputs: dict[str, Volume] = field(default_factory=dict)
    plane: str | None = None  # which planes the image is a stack of, after a ``planes`` step
    plane_scores: PlaneScores | None = None  # a 2D classifier's answers per plane (``infer_planes``)
    scores: dict[str, ClassScores] = field(default_factory=dict)  # recorded ``class_scores`` outputs
    inputs: Mapping[str, Volume] = field(default_factory=dict)  # the card's other inputs (``stack_inputs``)


class PipelineStep:
    """Base of all steps. Subclasses set ``name`` and implement :meth:`apply`.

    ``__init__`` receives the step's params from the card as keyword-only arguments (after parameter
    references are resolved); constructors validate them and raise :class:`ParamError` (a ``ValueError``).
    :meth:`apply` replaces ``state.image`` and never writes into its array: the first image may share memory
    with the caller's input volume, and saved slots share it too.
    """

    name: ClassVar[str]
    _registry: ClassVar[dict[str, type[PipelineStep]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        step_name = cls.__dict__.get("name")
        if step_name is None:  # abstract helper base
            return
        if step_name in PipelineStep._registry:
            raise TypeError(f"pipeline step {step_name!r} is defined twice")
        PipelineStep._registry[step_name] = cls

    def apply(self, state: PipelineState) -> None:
        raise NotImplementedError

    def artifacts(self) -> list[str]:
        """Names of the card artifacts (networks) this step loads."""
        return []

    def records(self) -> list[str]:
        """Names of the card outputs this step records."""
        return []

    def reads(self) -> list[str]:
        """Names of the card inputs this step reads besides the first (the working image)."""
        return []

    @classmethod
    def lookup(cls, name: str) -> type[PipelineStep]:
        try:
            return cls._registry[name]
        except KeyError:
            known = ", ".join(sorted(cls._registry))
            raise KeyError(f"unknown pipeline step {name!r}; known steps: {known}") from None

    @classmethod
    def names(cls) -> list[str]:
        return sorted(cls._registry)


class ParamError(ValueError):
    """A step parameter is invalid; ``param`` names it so the problem's JSON path can point at it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param!r} {message}")
        self.param = param


def run_steps(steps: Sequence[PipelineStep], state: PipelineState) -> dict[str, Volume]:
    """Apply the steps in order; returns the outputs the pipeline recorded."""
    for step in steps:
        step.apply(state)
    if not state.outputs and not state.scores:
        raise PipelineError("the pipeline recorded no output (it needs an 'output' or 'class_scores' step)")
    return state.outputs
