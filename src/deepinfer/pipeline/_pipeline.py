"""`Pipeline`: a card's steps, built once, run on volumes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from deepinfer._exceptions import CardError, PipelineError
from deepinfer.card import ModelCard, resolve_parameters
from deepinfer.imaging import Volume
from deepinfer.pipeline._base import (
    NetworkProvider,
    PipelineState,
    PipelineStep,
    ProgressCallback,
    Tensor,
    no_progress,
    run_steps,
)
from deepinfer.pipeline._card_check import all_built, check_card_pipeline
from deepinfer.pipeline._plane_inference import ClassScores


@dataclass
class PipelineResult:
    """What a run recorded: image outputs (each on the input's exact grid) and class-score outputs."""

    volumes: dict[str, Volume]
    scores: dict[str, ClassScores] = field(default_factory=dict)


class Pipeline:
    """Ordered, validated steps and the parameter values they were built with."""

    def __init__(self, steps: Sequence[PipelineStep], params: Mapping[str, Any] | None = None) -> None:
        self.steps = list(steps)
        self.params = dict(params or {})

    @classmethod
    def from_card(cls, card: ModelCard, params: Mapping[str, Any] | None = None) -> Pipeline:
        """Build the card's pipeline with the user's parameter values (defaults for the rest).

        Raises :class:`UsageError` for bad parameter values and :class:`CardError` (problems with JSON
        paths) for steps that do not fit the card: the report ``validate_card_pipeline`` gives, with the
        user's values. ``params`` may be what ``resolve_parameters`` returned for this card (not resolved again).
        """
        values = resolve_parameters(card, params)  # returns values it resolved before for this card as they are
        steps, problems = check_card_pipeline(card, values)
        if problems:
            raise CardError(card.ref, problems)
        return cls(all_built(steps), values)

    @property
    def step_names(self) -> list[str]:
        return [step.name for step in self.steps]

    def run(
        self,
        volume: Volume,
        networks: NetworkProvider,
        progress: ProgressCallback = no_progress,
        inputs: Mapping[str, Volume] | None = None,
    ) -> dict[str, Volume]:
        """Run every step on ``volume``; returns the recorded image outputs, each on the input's exact grid."""
        return self.run_all(volume, networks, progress, inputs).volumes

    def run_all(
        self,
        volume: Volume,
        networks: NetworkProvider,
        progress: ProgressCallback = no_progress,
        inputs: Mapping[str, Volume] | None = None,
    ) -> PipelineResult:
        """Run every step on ``volume`` (the card's first input); returns every recorded output, class scores too.

        ``inputs``: the card's other inputs by name, for a ``stack_inputs`` step (a card with several inputs).
        """
        state = PipelineState(Tensor.from_volume(volume), volume, self.params, networks, progress)
        state.inputs = dict(inputs or {})
        run_steps(self.steps, state)
        for name, output in state.outputs.items():
            if not output.geometry.same_as(volume.geometry):
                raise PipelineError(f"internal: output {name!r} is not on the input's grid")
        return PipelineResult(dict(state.outputs), dict(state.scores))
