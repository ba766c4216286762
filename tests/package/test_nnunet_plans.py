"""Reading nnU-Net's dataset.json, plans.json and postprocessing.json as data: the accepted variants and their
refusals, without a network (milliseconds)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from deepinfer._exceptions import Problem
from deepinfer.package._nnunet_import import input_names, pipeline_steps, probability_names
from deepinfer.package._nnunet_plans import NnunetPlan, read_dataset, read_plans
from deepinfer.package._nnunet_postprocessing import read_postprocessing

LARGEST = "remove_all_but_largest_component_from_segmentation"


def plans() -> dict[str, Any]:
    """The hostile corpus's well-formed plans (one 3d_fullres configuration)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "security"))
    from hostile_cases_nnunet import plans as well_formed

    document: dict[str, Any] = well_formed()
    return document


def dataset_plan(document: dict[str, Any]) -> tuple[NnunetPlan, list[Problem]]:
    plan, problems = NnunetPlan("3d_fullres"), list[Problem]()
    read_dataset(document, plan, problems)
    return plan, problems


def test_channels_become_inputs_named_after_them_and_unique() -> None:
    plan, problems = dataset_plan({"channel_names": {"0": "T2", "1": "ADC", "2": "T2"}, "labels": {"bg": 0, "a": 1}})
    assert problems == [] and plan.channels == ["T2", "ADC", "T2"]
    assert input_names(plan) == ["T2", "ADC", "T2_2"]


def test_the_ignore_label_is_no_output() -> None:
    plan, problems = dataset_plan({"channel_names": {"0": "CT"}, "labels": {"background": 0, "liver": 1, "ignore": 2}})
    assert problems == [] and plan.labels == {0: "background", 1: "liver"} and plan.heads == 2


def test_regions_paint_their_class_order_values() -> None:
    labels = {"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3], "enhancing": 3, "ignore": 4}
    plan, problems = dataset_plan({"channel_names": {"0": "T1"}, "labels": labels, "regions_class_order": [1, 2, 3]})
    assert problems == []
    assert plan.regions == [("whole tumor", [1, 2, 3]), ("tumor core", [2, 3]), ("enhancing", [3])]
    assert plan.heads == 3 and plan.labels == {0: "background", 1: "whole tumor", 2: "tumor core", 3: "enhancing"}
    assert [name for _, name, _ in probability_names(plan)] == [
        "probability_whole_tumor", "probability_tumor_core", "probability_enhancing"
    ]  # fmt: skip
    plan.normalization = [{"scheme": "zscore", "use_mask": False}]
    plan.spacing, plan.patch = [1.0, 1.0, 1.0], [16, 16, 16]
    steps = [step["step"] for step in pipeline_steps(plan, ["fold_0"], [0, 1, 2], [[1, 2, 3]])]
    assert steps[-4:] == ["output", "regions_nnunet", "largest_component_nnunet", "output"]


def test_region_refusals() -> None:
    labels = {"background": 0, "tumor": [1, 2]}
    for document, message in (
        ({"labels": labels}, "must list the label value"),
        ({"labels": labels, "regions_class_order": [1, 2]}, "has 2 values for 1 regions"),
        ({"labels": {**labels, "bad": [1, "x"]}, "regions_class_order": [1, 2]}, "must be a label value or a list"),
        ({"labels": {"background": [0, 1], "tumor": [1, 2]}, "regions_class_order": [1]}, "must be 0"),
    ):
        _, problems = dataset_plan({"channel_names": {"0": "T1"}, **document})
        assert any(message in p.message for p in problems), (message, problems)


def test_data_and_probabilities_must_make_one_separate_z_choice() -> None:
    document = plans()
    kwargs = document["configurations"]["3d_fullres"]["resampling_fn_probabilities_kwargs"]
    kwargs["force_separate_z"] = False
    plan, problems = NnunetPlan("3d_fullres", channels=["T1"]), list[Problem]()
    read_plans(document, plan, problems)
    (problem,) = problems
    assert problem.path.endswith("resampling_fn_probabilities_kwargs") and "must be the data's" in problem.message


def test_the_anisotropic_plans_orders_and_separate_z_are_read() -> None:
    document = plans()
    configuration = document["configurations"]["3d_fullres"]
    configuration["spacing"] = [5.0, 0.7, 0.7]
    for kind in ("data", "probabilities"):
        configuration[f"resampling_fn_{kind}_kwargs"].update(order_z=1, force_separate_z=True)
    plan, problems = NnunetPlan("3d_fullres", channels=["T1"]), list[Problem]()
    read_plans(document, plan, problems)
    assert problems == []
    assert (plan.data_order_z, plan.probability_order_z, plan.separate_z["data"]) == (1, 1, "always")


def write(root: Path, relative: str, document: Any) -> None:
    (root / relative).parent.mkdir(parents=True, exist_ok=True)
    (root / relative).write_text(json.dumps(document), encoding="utf-8")


def test_postprocessing_json_groups_and_where_it_is_found(tmp_path: Path) -> None:
    plan = NnunetPlan("3d_fullres", labels={0: "background", 1: "a", 2: "b", 3: "c"})
    assert read_postprocessing(tmp_path, ["0", "1"], plan, []) == []  # none: no postprocessing
    (tmp_path / "postprocessing.pkl").write_bytes(b"\x80\x04not read")
    assert read_postprocessing(tmp_path, ["0", "1"], plan, []) == []  # the pickle is never read
    kwargs = [{"labels_or_regions": [1, 2, 3]}, {"labels_or_regions": 2}, {"labels_or_regions": [[2, 3], [3]]}]
    document = {"postprocessing_fns": [LARGEST] * 3, "postprocessing_kwargs": kwargs, "input_folder": {}}
    write(tmp_path, "crossval_results_folds_0_1/postprocessing.json", document)
    problems: list[Problem] = []
    assert read_postprocessing(tmp_path, ["0", "1"], plan, problems) == [[1, 2, 3], [2], [2, 3]]
    assert problems == []
    assert read_postprocessing(tmp_path, ["0"], plan, problems) == []  # another fold set's cross-validation
    write(tmp_path, "postprocessing.json", {"postprocessing_fns": [LARGEST], "postprocessing_kwargs": []})
    assert read_postprocessing(tmp_path, ["0", "1"], plan, problems) == []
    assert [p.path for p in problems] == ["postprocessing.json:$.postprocessing_kwargs"]
