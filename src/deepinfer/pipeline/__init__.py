"""Declarative, geometry-exact pipelines: steps named in a card, found by name, undone in reverse.

Steps (``step_names()`` lists them): reorient, resample, resize, crop_foreground, crop_to_mask, pad,
restore_geometry (spatial); nan_to_num, normalize_zscore, clip_percentiles, percentiles, scale_to_range,
normalize_minmax, gaussian_smooth (intensity); infer, sliding_window (networks); select_channel, activation,
threshold, argmax, largest_component, fill_holes (post-processing); output, save, load (results and slots).
"""

from deepinfer.pipeline import (  # noqa: F401  (register the steps)
    _crop_mask,
    _inference,
    _intensity,
    _outputs,
    _postprocess,
    _spatial,
)
from deepinfer.pipeline._base import (
    Network,
    NetworkProvider,
    ParamError,
    PipelineState,
    PipelineStep,
    ProgressCallback,
    Tensor,
    build_steps,
    no_progress,
    run_steps,
)
from deepinfer.pipeline._pipeline import Pipeline


def step_names() -> list[str]:
    """The names of every registered pipeline step, sorted."""
    return PipelineStep.names()


__all__ = [
    "Network",
    "NetworkProvider",
    "ParamError",
    "Pipeline",
    "PipelineState",
    "PipelineStep",
    "ProgressCallback",
    "Tensor",
    "build_steps",
    "no_progress",
    "run_steps",
    "step_names",
]
