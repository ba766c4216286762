"""`Pipeline`: a card's steps, built once, run on volumes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from deepinfer._exceptions import CardError, PipelineError, Problem
from deepinfer.card import ModelCard
from deepinfer.card._params import resolve_parameters
from deepinfer.imaging import Volume
from deepinfer.pipeline._base import (
    NetworkProvider,
    PipelineState,
    PipelineStep,
    ProgressCallback,
    Tensor,
    build_steps,
    no_progress,
    run_steps,
)


def card_problems(card: ModelCard, steps: Sequence[PipelineStep]) -> list[Problem]:
    """Steps that load artifacts the card lacks, record outputs it does not declare, or outputs never recorded."""
    artifacts = {artifact.name for artifact in card.artifacts}
    declared = [output.name for output in card.outputs]
    problems: list[Problem] = []
    recorded: set[str] = set()
    for index, step in enumerate(steps):
        path = f"$.pipeline[{index}].params"
        problems += [
            Problem(f"{path}.network", f"no artifact named {n!r}") for n in step.artifacts() if n not in artifacts
        ]
        for name in step.records():
            if name not in declared:
                problems.append(Problem(f"{path}.name", f"{name!r} is not one of the card's outputs {declared}"))
            recorded.add(name)
    missing = [name for name in declared if name not in recorded]
    problems += [Problem("$.pipeline", f"no step records the output {name!r}") for name in missing]
    return problems


class Pipeline:
    """Ordered, validated steps and the parameter values they were built with."""

    def __init__(self, steps: Sequence[PipelineStep], params: Mapping[str, Any] | None = None) -> None:
        self.steps = list(steps)
        self.params = dict(params or {})

    @classmethod
    def from_card(cls, card: ModelCard, params: Mapping[str, Any] | None = None) -> Pipeline:
        """Build the card's pipeline with the user's parameter values (defaults for the rest).

        Raises :class:`UsageError` for bad parameter values and :class:`CardError` (problems with JSON
        paths) for steps that do not fit the card.
        """
        values = resolve_parameters(card, params)
        steps = build_steps([(step.step, step.params) for step in card.pipeline], values)
        problems = card_problems(card, steps)
        if problems:
            raise CardError(card.ref, problems)
        return cls(steps, values)

    @property
    def step_names(self) -> list[str]:
        return [step.name for step in self.steps]

    def run(
        self, volume: Volume, networks: NetworkProvider, progress: ProgressCallback = no_progress
    ) -> dict[str, Volume]:
        """Run every step on ``volume``; returns the recorded outputs, each on the input's exact grid."""
        state = PipelineState(Tensor.from_volume(volume), volume, self.params, networks, progress)
        outputs = run_steps(self.steps, state)
        for name, output in outputs.items():
            if not output.geometry.same_as(volume.geometry):
                raise PipelineError(f"internal: output {name!r} is not on the input's grid")
        return dict(outputs)
