"""Steps are found by name; bad step lists are reported with JSON paths, all problems at once."""

from __future__ import annotations

from typing import ClassVar

import pytest

from deepinfer._exceptions import CardError
from deepinfer.pipeline import ParamError, PipelineState, PipelineStep, build_steps, step_names

REQUIRED = {
    "reorient", "resample", "resize", "normalize_zscore", "clip_percentiles", "normalize_minmax",
    "crop_foreground", "pad", "sliding_window", "infer", "gaussian_smooth", "activation", "threshold",
    "argmax", "largest_component", "fill_holes", "restore_geometry", "output", "save", "load",
}  # fmt: skip


def test_every_step_is_registered_by_name() -> None:
    assert set(step_names()) >= REQUIRED
    for name in REQUIRED:
        assert PipelineStep.lookup(name).name == name


def test_a_second_step_with_a_taken_name_is_refused() -> None:
    with pytest.raises(TypeError, match="defined twice"):

        class Again(PipelineStep):
            name: ClassVar[str] = "threshold"

            def apply(self, state: PipelineState) -> None:
                pass


def problems_of(steps: list[tuple[str, dict[str, object]]], params: dict[str, object] | None = None) -> dict[str, str]:
    with pytest.raises(CardError) as caught:
        build_steps(steps, params or {})
    return {problem.path: problem.message for problem in caught.value.problems}


def test_problems_name_the_step_and_parameter_with_json_paths() -> None:
    problems = problems_of(
        [
            ("reorient", {"orientation": "RAS"}),
            ("resampel", {"spacing": 1.0}),
            ("resample", {"spacing": [1.0, -2.0, 1.0]}),
            ("threshold", {"value": 0.5, "cutoff": 2}),
            ("sliding_window", {}),
            ("threshold", {"value": {"param": "missing"}}),
            ("reorient", {"orientation": "RAR"}),
        ]
    )
    assert set(problems) == {
        "$.pipeline[1].step",
        "$.pipeline[2].params.spacing",
        "$.pipeline[3].params.cutoff",
        "$.pipeline[4].params.roi",
        "$.pipeline[5].params.value",
        "$.pipeline[6].params.orientation",
    }
    assert "unknown pipeline step 'resampel'" in problems["$.pipeline[1].step"]
    assert "positive" in problems["$.pipeline[2].params.spacing"]
    assert "not a parameter of step 'threshold'" in problems["$.pipeline[3].params.cutoff"]
    assert "required" in problems["$.pipeline[4].params.roi"]
    assert "unknown card parameter 'missing'" in problems["$.pipeline[5].params.value"]


@pytest.mark.parametrize(
    ("name", "params", "param"),
    [
        ("resample", {"spacing": 1.0, "interpolation": "cubic"}, "interpolation"),
        ("resample", {"spacing": True}, "spacing"),
        ("resize", {"size": [64, 64]}, "size"),
        ("crop_foreground", {"margin": -1}, "margin"),
        ("pad", {"multiple": 0}, "multiple"),
        ("normalize_zscore", {"nonzero": "yes"}, "nonzero"),
        ("clip_percentiles", {"lower": 90, "upper": 10}, "upper"),
        ("gaussian_smooth", {"sigma": -1}, "sigma"),
        ("sliding_window", {"roi": 64, "overlap": 1.0}, "overlap"),
        ("sliding_window", {"roi": 64, "batch_size": 0}, "batch_size"),
        ("activation", {"function": "relu"}, "function"),
        ("largest_component", {"connectivity": 8}, "connectivity"),
        ("output", {"name": "bad name"}, "name"),
        ("output", {"name": "Mask", "dtype": "float16"}, "dtype"),
    ],
)
def test_constructors_validate_their_params(name: str, params: dict[str, object], param: str) -> None:
    with pytest.raises(ParamError) as caught:
        PipelineStep.lookup(name)(**params)
    assert caught.value.param == param
    assert problems_of([(name, params)]) == {f"$.pipeline[0].params.{param}": str(caught.value)}


def test_parameter_references_are_resolved() -> None:
    (step,) = build_steps([("threshold", {"value": {"param": "threshold"}})], {"threshold": 0.3})
    assert getattr(step, "value", None) == pytest.approx(0.3)
