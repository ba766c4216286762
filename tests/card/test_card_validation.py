"""validate_card reports every problem of a v2 card with its JSON path; parse_card raises them together."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deepinfer._exceptions import CardError
from deepinfer.card import load_legacy, parse_card, validate_card

Card = dict[str, Any]
LABEL = {"value": 1, "name": "Prostate", "color": "#80ae80"}


@pytest.fixture
def card(legacy_registry: Path) -> Card:
    """A valid v2 card document: the real 2017 prostate segmenter, imported."""
    imported, _ = load_legacy(legacy_registry / "ProstateSegmenter.json")
    return imported.model_dump(mode="json")


def test_a_valid_card_has_no_problem(card: Card) -> None:
    assert validate_card(card) == []
    assert parse_card(card).id == "prostate-gland-segmenter"


def test_three_errors_give_three_problems_with_paths(card: Card) -> None:
    card["id"] = "Prostate Segmenter"
    card["version"] = "1.0"
    card["outputs"][0]["labels"][0]["color"] = "red"

    problems = validate_card(card)

    assert sorted(problem.path for problem in problems) == [
        "$.id",
        "$.outputs[0].labels[0].color",
        "$.version",
    ]


def test_parse_card_raises_every_problem(card: Card) -> None:
    card["task"] = "guessing"
    card["inputs"][0]["name"] = "input volume"

    with pytest.raises(CardError) as caught:
        parse_card(card, "bad.json")

    assert caught.value.source == "bad.json"
    assert sorted(problem.path for problem in caught.value.problems) == ["$.inputs[0].name", "$.task"]
    assert "bad.json: 2 problem(s)" in str(caught.value)


def _set(*keys: str | int, value: Any) -> Callable[[Card], None]:
    def change(card: Card) -> None:
        node: Any = card
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


# (change, JSON path of the single problem, fragment of its message)
INVALID: list[tuple[str, Callable[[Card], None], str, str]] = [
    (
        "labels-not-unique",
        _set("outputs", 0, "labels", value=[LABEL, {**LABEL, "name": "Other"}]),
        "$.outputs[0].labels",
        "unique",
    ),
    (
        "label-value-negative",
        _set("outputs", 0, "labels", 0, "value", value=-1),
        "$.outputs[0].labels[0].value",
        "greater than or equal to 0",
    ),
    ("no-labels", _set("outputs", 0, "labels", value=[]), "$.outputs[0].labels", "at least 1"),
    (
        "enum-default-not-a-choice",
        _set("parameters", 0, "default", value="ELSEWHERE"),
        "$.parameters[0]",
        "not one of the choices",
    ),
    (
        "enum-choice-control-char",
        _set("parameters", 0, "choices", 1, value="A\x07"),
        "$.parameters[0].choices[1]",
        "match pattern",
    ),
    (
        "image-tag-only",
        _set("runtime", "image", value="deepinfer/x:latest"),
        "$.runtime.image",
        "must be pinned by digest",
    ),
    ("image-no-digest", _set("runtime", "image", value="deepinfer/prostate"), "$.runtime.image", "pinned by digest"),
    (
        "image-with-option",
        _set("runtime", "image", value="--privileged deepinfer/x@sha256:" + "a" * 64),
        "$.runtime.image",
        "pinned by digest",
    ),
    (
        "args-unknown-member",
        _set("runtime", "args", value=["--in", "{inputs.Nope}"]),
        "$",
        "{inputs.Nope} names no member of inputs",
    ),
    ("data-path-parent", _set("runtime", "data_path", value="/data/../.."), "$.runtime.data_path", "'..'"),
    ("model-name-shell", _set("runtime", "model_name", value="x;id"), "$.runtime.model_name", "pattern"),
    ("member-names-shared", _set("parameters", 0, "name", value="InputVolume"), "$", "unique"),
    (
        "int-default-above-max",
        _set("parameters", 3, value={"name": "N", "type": "int", "default": 9, "maximum": 5}),
        "$.parameters[3]",
        "above the maximum",
    ),
    ("unknown-field", _set("colour", value="red"), "$.colour", "Extra inputs"),
    ("unknown-member-type", _set("inputs", 0, "type", value="mesh"), "$.inputs[0]", "tag"),
    ("no-license", lambda c: c.pop("license"), "$.license", "Field required"),
]


@pytest.mark.parametrize(("change", "path", "fragment"), [i[1:] for i in INVALID], ids=[i[0] for i in INVALID])
def test_a_problem_is_reported_at_its_path(
    card: Card, change: Callable[[Card], None], path: str, fragment: str
) -> None:
    change(card)

    problems = validate_card(card)

    assert [problem.path for problem in problems] == [path], problems
    assert fragment in problems[0].message


def test_a_pinned_image_with_a_tag_is_valid(card: Card) -> None:
    card["runtime"]["image"] = "deepinfer/prostate:v1@sha256:" + "0" * 64

    assert validate_card(card) == []


def test_a_document_that_is_not_an_object() -> None:
    assert [problem.path for problem in validate_card(["not", "a", "card"])] == ["$"]
