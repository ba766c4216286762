"""Card → GUI specs of the Slicer extension (Qt-free), checked against the real embedded cards and the CLI's
own option names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from DeepInferLib import cards
from DeepInferLib.cards import browser_rows, details_html, filter_rows, form_from_card, parameter_spec

from deepinfer.cli._option_names import COMMON
from deepinfer.cli._option_names import option_name as cli_option_name
from deepinfer.registry import default_registry

TAPS = json.loads(
    (Path(__file__).resolve().parents[2] / "registry" / "cards" / "prostate-taps.json").read_text(encoding="utf-8")
)


def card(**changes: Any) -> dict[str, Any]:
    return {**TAPS, **changes}


def test_taps_form_has_a_volume_selector_two_outputs_and_ranged_float_spin_boxes() -> None:
    form = form_from_card(TAPS)
    assert form.ref == "prostate-taps@1.0.0" and form.runnable
    [t2] = form.inputs
    assert t2.name == "T2" and t2.node_types == ("vtkMRMLScalarVolumeNode",)
    assert not t2.show_child_node_types  # a labelmap is not offered as the T2 image
    assert "Modality: MR" in t2.tooltip
    outputs = {spec.name: spec for spec in form.outputs}
    assert outputs["ProstateMask"].node_types == ("vtkMRMLSegmentationNode",)
    assert outputs["ProstateMask"].labels[0]["name"] == "prostate"
    assert outputs["ProstateProbability"].kind == "volume"
    threshold = next(p for p in form.parameters if p.name == "threshold")
    assert (threshold.widget, threshold.minimum, threshold.maximum, threshold.default) == ("float", 0.0, 1.0, 0.55)
    assert threshold.single_step == 0.01 and threshold.decimals >= 2
    assert threshold.tooltip == "Voxels with a probability above this value are prostate."
    assert form.defaults() == {"threshold": 0.55, "sigma": 2.5, "overlap": 0.5}


def test_every_embedded_card_maps_to_a_form() -> None:
    for model in default_registry().list():
        document = model.model_dump(mode="json", exclude_none=True)
        form = form_from_card(document)
        assert [p.name for p in form.parameters] == [p.name for p in model.parameters]
        assert {p.option for p in form.parameters} == {cli_option_name(p.name) for p in model.parameters}


@pytest.mark.parametrize(
    ("parameter", "expected"),
    [
        (
            {"type": "enum", "name": "mode", "choices": ["fast", "accurate"], "default": "accurate"},
            {"widget": "combo", "choices": ("fast", "accurate"), "default": "accurate"},
        ),
        ({"type": "enum", "name": "mode", "choices": ["fast", "accurate"]}, {"default": "fast"}),
        (
            {"type": "bool", "name": "FillHoles", "default": True},
            {"widget": "check", "default": True, "option": "fill-holes"},
        ),
        (
            {"type": "int", "name": "iterations", "minimum": 1, "maximum": 50, "default": 5},
            {"widget": "int", "minimum": 1, "maximum": 50, "default": 5},
        ),
        ({"type": "int", "name": "seed"}, {"minimum": -(2**31 - 1), "maximum": 2**31 - 1, "default": 0}),
        (
            {"type": "float", "name": "sigma", "minimum": 0.0, "maximum": 10.0, "default": 2.5},
            {"widget": "float", "single_step": 0.1, "decimals": 2},
        ),
        (
            {"type": "float", "name": "tol", "minimum": 0.0, "maximum": 0.01, "default": 0.0005},
            {"single_step": 0.0001, "decimals": 4},
        ),
        ({"type": "float", "name": "gain", "default": -3.0}, {"minimum": -1e9, "maximum": 1e9, "default": -3.0}),
        (
            {"type": "string", "name": "note", "description": "Free text."},
            {"widget": "text", "default": "", "tooltip": "Free text."},
        ),
        ({"type": "float", "name": "input"}, {"option": "param-input"}),
    ],
)
def test_parameter_types_map_to_widgets(parameter: dict[str, Any], expected: dict[str, Any]) -> None:
    spec = parameter_spec(parameter)
    for key, value in expected.items():
        assert getattr(spec, key) == value, key


def test_option_names_are_the_clis_own_and_the_fallback_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    names = [
        "threshold",
        "OutputSmoothing",
        "fill_holes",
        "ROISize",
        "x2y",
        *sorted(COMMON),
        *(n.title() for n in COMMON),
    ]
    with_deepinfer = [cards.option_name(n) for n in names]
    assert with_deepinfer == [cli_option_name(n) for n in names]
    import builtins

    real_import = builtins.__import__

    def no_deepinfer(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("deepinfer"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_deepinfer)
    assert [cards.option_name(n) for n in names] == with_deepinfer


def test_unsupported_members_disable_run_with_a_reason() -> None:
    form = form_from_card(card(inputs=[*TAPS["inputs"], {"type": "point_list", "name": "Seeds"}]))
    assert not form.runnable and "Seeds" in form.problems[0]
    scores_only = card(outputs=[{"type": "class_scores", "name": "View", "classes": ["a", "b"]}])
    form = form_from_card(scores_only)
    assert form.outputs[0].kind == "table" and form.outputs[0].node_types == ("vtkMRMLTableNode",)
    assert form.runnable  # deepinfer writes class scores as JSON, which the extension imports
    scalar_only = form_from_card(card(outputs=[{"type": "scalar", "name": "Age"}]))
    assert not scalar_only.runnable and "scalars have no output file" in scalar_only.problems[0]
    container = card(runtime={"type": "container", "image": "sha256:" + "0" * 64})
    assert any("container" in p for p in form_from_card(container).problems)


def test_labelmap_input_offers_labelmap_nodes_only() -> None:
    form = form_from_card(
        card(inputs=[{"type": "labelmap", "name": "Mask", "labels": [{"value": 1, "name": "a", "color": "#ff0000"}]}])
    )
    assert form.inputs[0].node_types == ("vtkMRMLLabelMapVolumeNode",)


SUMMARY = {
    "id": "prostate-taps",
    "name": "TAPS prostate gland segmentation",
    "version": "1.0.0",
    "task": "segmentation",
    "modality": "MR",
    "anatomy": "prostate",
    "license": {"code": "MIT", "weights": "MIT"},
    "size": 79721153,
    "tags": ["T2w", "MONAI"],
}
OTHER = {
    **SUMMARY,
    "id": "brain-x",
    "name": "Brain X",
    "modality": "CT",
    "anatomy": "brain",
    "tags": [],
    "license": {"code": "MIT", "weights": "CC-BY-NC-4.0"},
    "size": 10,
}


def test_browser_rows_show_the_columns_and_search_every_word() -> None:
    rows = browser_rows([SUMMARY, OTHER])
    assert rows[0].cells() == ("TAPS prostate gland segmentation", "segmentation", "MR", "MIT", "79.7 MB", "?")
    assert rows[1].license == "MIT / weights CC-BY-NC-4.0"
    assert [r.model_id for r in filter_rows(rows, "prostate mr")] == ["prostate-taps"]
    assert [r.model_id for r in filter_rows(rows, "MONAI")] == ["prostate-taps"]
    assert [r.model_id for r in filter_rows(rows, "")] == ["prostate-taps", "brain-x"]
    assert filter_rows(rows, "prostate ct") == []


def test_installed_state_from_the_cache_listing() -> None:
    cached = [{"sha256": "a" * 64, "size": 79721153, "used_by": ["prostate-taps@1.0.0:model"]}]
    rows = browser_rows([SUMMARY, OTHER], cached)
    assert [r.installed for r in rows] == [True, False]
    assert browser_rows([SUMMARY], [])[0].installed is False
    # with the full card the check is by artifact name; an "installed" field of the CLI wins
    assert browser_rows([SUMMARY], [], {"prostate-taps": TAPS})[0].installed is False
    assert browser_rows([SUMMARY], cached, {"prostate-taps": TAPS})[0].installed is True
    assert browser_rows([{**SUMMARY, "installed": True}], [])[0].installed is True


def test_details_show_license_metrics_citation_and_escape_card_text() -> None:
    page = details_html(
        card(
            metrics=[{"name": "Dice", "value": 0.91, "dataset": "PROSTATEx", "n": 40}],
            description="<script>alert(1)</script>",
        ),
        installed=False,
    )
    for text in (
        "MIT",
        "Dice",
        "0.91",
        "PROSTATEx",
        "40",
        "TAPS: command-line",
        "79.7 MB",
        "not downloaded yet",
        "Not for clinical diagnosis",
    ):
        assert text in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "none reported" in details_html({**TAPS, "metrics": []})
    assert "own pipeline" in details_html(TAPS)  # the embedded card says what its Dice was compared with
    with_example = card(
        artifacts=[*TAPS["artifacts"], {**TAPS["artifacts"][0], "name": "sample", "size": 10**7}],
        examples=[{"name": "demo", "inputs": {"T2": "sample"}}],
    )
    assert "79.7 MB" in details_html(with_example)  # example data is not part of the download
