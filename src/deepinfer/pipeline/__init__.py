"""Declarative, geometry-exact pipelines: steps named in a card, found by name, undone in reverse.

Steps (``step_names()`` lists them): reorient, resample, resize, crop_foreground, crop_to_mask, pad,
restore_geometry (spatial); planes, resize_planes, scale_planes, infer_planes, class_scores (a 2D network plane
by plane: its maps back on the input's grid, or class scores per plane); nan_to_num, normalize_zscore,
clip_percentiles, percentiles, scale_to_range, scale_intensity_range, normalize_minmax, gaussian_smooth
(intensity); infer, sliding_window (networks); select_channel, activation, threshold, argmax, largest_component,
fill_holes (post-processing); stack_inputs (a card's other inputs as channels); crop_nonzero, normalize_nnunet,
resample_nnunet, sliding_window_nnunet, regions_nnunet, largest_component_nnunet (nnU-Net v2's inference, for
imported nnU-Net models); output, save, load (results and slots).

Checking a whole card needs the steps, so it lives here, above the card layer: ``validate_card_document``
(the schema report of ``deepinfer.card.validate_card`` plus the pipeline's) is what ``deepinfer card validate``
runs, and ``Pipeline.from_card`` raises the same report (with the user's values) before any run. Registries
sit below the pipeline: they load a card after the schema check only (``parse_card``); a card whose steps
do not fit reaches ``card validate`` or fails at ``Pipeline.from_card`` with this report, never half-run.
"""

from deepinfer.pipeline import (  # noqa: F401  (register the steps)
    _crop_mask,
    _inference,
    _intensity,
    _nnunet,
    _nnunet_output,
    _nnunet_resample,
    _outputs,
    _plane_inference,
    _planes,
    _postprocess,
    _spatial,
)
from deepinfer.pipeline._base import (
    FloatArray,
    Network,
    NetworkProvider,
    ParamError,
    PipelineState,
    PipelineStep,
    ProgressCallback,
    Tensor,
    no_progress,
    run_steps,
)
from deepinfer.pipeline._card_check import build_steps, validate_card_document, validate_card_pipeline
from deepinfer.pipeline._pipeline import Pipeline, PipelineResult
from deepinfer.pipeline._plane_inference import ClassScores
from deepinfer.pipeline._planes import PLANES


def step_names() -> list[str]:
    """The names of every registered pipeline step, sorted."""
    return PipelineStep.names()


__all__ = [
    "PLANES",
    "ClassScores",
    "FloatArray",
    "Network",
    "NetworkProvider",
    "ParamError",
    "Pipeline",
    "PipelineResult",
    "PipelineState",
    "PipelineStep",
    "ProgressCallback",
    "Tensor",
    "build_steps",
    "no_progress",
    "run_steps",
    "step_names",
    "validate_card_document",
    "validate_card_pipeline",
]
