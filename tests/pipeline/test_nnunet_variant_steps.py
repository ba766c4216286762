"""The nnU-Net steps for several inputs, anisotropic grids, region-based outputs and postprocessing, against
nnU-Net v2's own functions (``resample_data_or_seg_to_shape``, ``LabelManager``,
``remove_all_but_largest_component_from_segmentation``) on real images (Colin27 blocks).

nnU-Net's functions take arrays in any axis order; they are called on deepinfer's (i, j, k) arrays directly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pipeline_helpers import run_steps_on

from deepinfer import CardError, PipelineError
from deepinfer.imaging import Geometry, Volume
from deepinfer.pipeline import PipelineState, Tensor, build_steps
from realparts import need


def thick_slices(volume: Volume, every: int = 4) -> Volume:
    """Every ``every``-th k slice of a real image: a real thick-slice (anisotropic) volume."""
    array = np.ascontiguousarray(np.asarray(volume.array, dtype=np.float32)[:, :, ::every])
    geometry = volume.geometry
    spacing = (geometry.spacing[0], geometry.spacing[1], geometry.spacing[2] * every)
    return Volume(array, Geometry(geometry.origin, spacing, geometry.direction, array.shape))


def theirs_there_and_back(
    data: np.ndarray, current: list[float], new: list[float], force: bool | None, orders: tuple[int, int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """nnU-Net's data resampling (float32 in and out) and its logits' way back (float16 in and out)."""
    from nnunetv2.preprocessing.resampling.default_resampling import compute_new_shape, resample_data_or_seg_to_shape

    shape = compute_new_shape(data.shape[1:], current, new)
    there = resample_data_or_seg_to_shape(data, shape, current, new, False, orders[0], orders[1], force)
    logits = there.astype(np.float16)
    back = resample_data_or_seg_to_shape(logits, data.shape[1:], new, current, False, orders[2], orders[3], force)
    return there, back


CASES: dict[str, tuple[list[float], str, tuple[int, int, int, int]]] = {
    # thick input (1 × 1 × 4 mm): nnU-Net resamples k apart, by the input's spacing
    "thick-input": ([1.2, 1.1, 2.5], "auto", (3, 0, 1, 0)),
    # a thick target from the same input: still the input's k axis (checked first)
    "thick-both": ([0.9, 0.9, 5.0], "auto", (3, 0, 1, 0)),
    "order-z-1": ([1.3, 1.3, 3.0], "auto", (3, 1, 1, 1)),
    "never": ([1.2, 1.1, 2.5], "never", (3, 0, 1, 0)),
    "always-isotropic-target": ([1.5, 1.5, 1.5], "always", (3, 0, 1, 0)),
}
FORCE = {"auto": None, "always": True, "never": False}


@pytest.mark.parametrize("case", list(CASES))
def test_resampling_of_an_anisotropic_image_is_nnunets(case: str, small_mr: Volume) -> None:
    need("nnunetv2")
    spacing, mode, orders = CASES[case]
    thick = thick_slices(small_mr)
    data = np.asarray(thick.array, dtype=np.float32)[None]
    there, back = theirs_there_and_back(data, list(thick.geometry.spacing), spacing, FORCE[mode], orders)
    params = {"spacing": spacing, "order": orders[0], "order_z": orders[1], "inverse_order": orders[2],
              "inverse_order_z": orders[3], "inverse_float16": True, "separate_z": mode}  # fmt: skip
    state = run_steps_on(thick, [("resample_nnunet", params)])
    np.testing.assert_array_equal(state.image.data, there)
    state.image = state.image.with_data(there.astype(np.float16))  # the predictor's float16 logits
    (restore,) = build_steps([("restore_geometry", {})], {})
    restore.apply(state)
    assert state.image.geometry.same_as(thick.geometry)
    np.testing.assert_array_equal(state.image.data, back.astype(np.float32))


def test_an_isotropic_image_resampled_onto_a_thick_grid_is_nnunets(small_mr: Volume) -> None:
    """The target's spacing decides when the input's does not (nnU-Net: input first, then target)."""
    need("nnunetv2")
    data = np.asarray(small_mr.array, dtype=np.float32)[None]
    spacing = [0.8, 0.9, 4.0]
    there, back = theirs_there_and_back(data, list(small_mr.geometry.spacing), spacing, None, (3, 0, 1, 0))
    params = {"spacing": spacing, "inverse_float16": True}
    state = run_steps_on(small_mr, [("resample_nnunet", params)])
    np.testing.assert_array_equal(state.image.data, there)
    state.image = state.image.with_data(there.astype(np.float16))
    (restore,) = build_steps([("restore_geometry", {})], {})
    restore.apply(state)
    np.testing.assert_array_equal(state.image.data, back.astype(np.float32))


def test_resampling_options_are_checked() -> None:
    for params, problem in (
        ({"spacing": [1, 1, 1], "separate_z": "sometimes"}, "separate_z"),
        ({"spacing": [1, 1, 1], "order_z": 6}, "order_z"),
        ({"spacing": [1, 1, 1], "anisotropy_threshold": 0.5}, "anisotropy_threshold"),
    ):
        with pytest.raises(CardError, match=problem):
            build_steps([("resample_nnunet", params)], {})


def second_channel(volume: Volume) -> Volume:
    """A second real channel on the same grid: the image smoothed (as a second MR contrast would differ)."""
    from scipy.ndimage import gaussian_filter

    return volume.with_array(gaussian_filter(np.asarray(volume.array, dtype=np.float32), 2.0))


def stacked(volume: Volume, others: dict[str, Volume], steps: list[tuple[str, dict[str, Any]]]) -> PipelineState:
    state = PipelineState(Tensor.from_volume(volume), volume, {}, lambda name: None)  # type: ignore[arg-type]
    state.inputs = others
    for step in build_steps(steps, {}):
        step.apply(state)
    return state


def test_stack_inputs_puts_the_other_inputs_after_the_first_as_channels(small_mr: Volume) -> None:
    t2 = second_channel(small_mr)
    state = stacked(small_mr, {"t2": t2}, [("stack_inputs", {"inputs": ["t2"]})])
    assert state.image.data.shape == (2, *small_mr.geometry.size)
    np.testing.assert_array_equal(state.image.data[1], np.asarray(t2.array, dtype=np.float32))
    assert state.image.geometry.same_as(small_mr.geometry)


def test_stack_inputs_refuses_another_grid_a_missing_input_and_a_late_place(small_mr: Volume) -> None:
    geometry = small_mr.geometry
    moved = Volume(small_mr.array, Geometry((geometry.origin[0] + 2, *geometry.origin[1:]), geometry.spacing,
                                            geometry.direction, geometry.size))  # fmt: skip
    smaller = Volume(np.asarray(small_mr.array)[:-1], Geometry(geometry.origin, geometry.spacing, geometry.direction,
                                                               (geometry.size[0] - 1, *geometry.size[1:])))  # fmt: skip
    for others, message in (({"t2": moved}, "not on the first input's grid"), ({"t2": smaller}, "voxels"),
                            ({}, "no input named 't2'")):  # fmt: skip
        with pytest.raises(PipelineError, match=message):
            stacked(small_mr, others, [("stack_inputs", {"inputs": ["t2"]})])
    late = [("crop_nonzero", {}), ("stack_inputs", {"inputs": ["t2"]})]
    with pytest.raises(PipelineError, match="before the steps that change the grid"):
        stacked(small_mr, {"t2": small_mr}, late)
    with pytest.raises(CardError, match="inputs"):
        build_steps([("stack_inputs", {"inputs": ["../t2"]})], {})


def test_two_channels_are_normalized_each_with_their_scheme_as_nnunet(small_mr: Volume) -> None:
    need("nnunetv2")
    from nnunetv2.preprocessing.cropping.cropping import crop_to_nonzero
    from nnunetv2.preprocessing.normalization.default_normalization_schemes import CTNormalization, ZScoreNormalization

    t2 = second_channel(small_mr)
    array = np.stack([np.asarray(small_mr.array, np.float32), np.asarray(t2.array, np.float32)])
    array[:, :4] = 0
    first, second = small_mr.with_array(array[0]), t2.with_array(array[1])
    cropped, seg, _ = crop_to_nonzero(array.copy())
    statistics = {"mean": 60.0, "std": 25.0, "percentile_00_5": 5.0, "percentile_99_5": 110.0}
    theirs = np.stack([ZScoreNormalization(True, {}).run(cropped[0].copy(), seg[0]),
                       CTNormalization(False, statistics).run(cropped[1].copy(), seg[0])])  # fmt: skip
    schemes = [{"scheme": "zscore", "use_mask": True},
               {"scheme": "ct", "mean": 60.0, "std": 25.0, "lower": 5.0, "upper": 110.0}]  # fmt: skip
    steps: list[tuple[str, dict[str, Any]]] = [
        ("stack_inputs", {"inputs": ["t2"]}),
        ("crop_nonzero", {}),
        ("normalize_nnunet", {"channels": schemes}),
    ]
    state = stacked(first, {"t2": second}, steps)
    np.testing.assert_allclose(state.image.data, theirs, atol=1e-5)


def region_probabilities(volume: Volume) -> np.ndarray:
    """Three overlapping 'regions' of a real image as sigmoid probabilities (brighter → inner regions)."""
    data = np.asarray(volume.array, dtype=np.float32)
    scaled = (data - data.mean()) / data.std()
    return np.stack([1 / (1 + np.exp(-(scaled + shift) * 3)) for shift in (0.5, -0.2, -0.9)]).astype(np.float32)


def test_regions_are_painted_as_nnunets_label_manager(small_mr: Volume) -> None:
    need("nnunetv2")
    from nnunetv2.utilities.label_handling.label_handling import LabelManager

    labels = {"background": 0, "whole": [1, 2, 3], "core": [2, 3], "enhancing": [3]}
    probabilities = region_probabilities(small_mr)
    for order in ([1, 2, 3], [3, 1, 2]):
        theirs = LabelManager(labels, order).convert_probabilities_to_segmentation(probabilities)
        state = run_steps_on(small_mr, [])
        state.image = state.image.with_data(probabilities)
        (step,) = build_steps([("regions_nnunet", {"order": order})], {})
        step.apply(state)
        assert set(np.unique(theirs)) == {0, *order}
        np.testing.assert_array_equal(state.image.data[0], theirs)
    state.image = state.image.with_data(probabilities)
    with pytest.raises(PipelineError, match="2 regions for 3 channels"):
        build_steps([("regions_nnunet", {"order": [1, 2]})], {})[0].apply(state)
    with pytest.raises(CardError, match="order"):
        build_steps([("regions_nnunet", {"order": [0]})], {})


def test_largest_component_is_nnunets_postprocessing(small_mr: Volume) -> None:
    need("nnunetv2")
    from nnunetv2.postprocessing.remove_connected_components import remove_all_but_largest_component_from_segmentation

    data = np.asarray(small_mr.array, dtype=np.float32)
    segmentation = np.digitize(data, np.percentile(data, [55, 80, 93])).astype(np.uint8)  # labels 0..3, many pieces
    for labels in ([1, 2, 3], [2], [3], [1, 3]):
        theirs = remove_all_but_largest_component_from_segmentation(segmentation, labels)
        state = run_steps_on(small_mr.with_array(segmentation.astype(np.float32)),
                             [("largest_component_nnunet", {"labels": labels})])  # fmt: skip
        assert (theirs != segmentation).any(), "the image has several components to remove"
        np.testing.assert_array_equal(state.image.data[0], theirs)


def test_a_card_whose_stack_inputs_names_no_other_input_is_invalid() -> None:
    """``card validate`` (and ``Pipeline.from_card``) report a stacked input the card lacks, or its first one."""
    import deepinfer
    from deepinfer.card import parse_card
    from deepinfer.pipeline import validate_card_document, validate_card_pipeline

    cards = Path(deepinfer.__file__).parent / "_registry" / "cards"
    document = json.loads((cards / "prostate-taps.json").read_text(encoding="utf-8"))
    first = document["inputs"][0]["name"]
    document["inputs"].append({**document["inputs"][0], "name": "adc"})
    document["pipeline"].insert(0, {"step": "stack_inputs", "params": {"inputs": ["adc"]}})
    assert validate_card_pipeline(parse_card(document)) == []
    for name, why in (("dwi", "is not one of the card's inputs"), (first, "is the first input")):
        document["pipeline"][0]["params"]["inputs"] = [name]
        (problem,) = validate_card_document(document)
        assert problem.path == "$.pipeline[0].params.inputs" and why in problem.message
