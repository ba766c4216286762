"""The whole-card check: one report with every problem of a card (schema and pipeline), each with its JSON path;
``Pipeline.from_card`` raises the same report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import deepinfer
from deepinfer._exceptions import CardError
from deepinfer.card import ParameterValues, parse_card, resolve_parameters
from deepinfer.pipeline import Pipeline, validate_card_document, validate_card_pipeline

CARDS = sorted((Path(deepinfer.__file__).parent / "_registry" / "cards").glob("*.json"))


def taps() -> dict[str, Any]:
    """The embedded TAPS card: reorient, resample, normalize_zscore, crop_foreground, sliding_window (4),
    gaussian_smooth, restore_geometry, activation, output, threshold, largest_component, output (11)."""
    document: dict[str, Any] = json.loads(next(p for p in CARDS if p.name == "prostate-taps.json").read_text())
    return document


def report(document: dict[str, Any]) -> dict[str, str]:
    problems = validate_card_document(document)
    assert len({p.path for p in problems}) == len(problems), problems
    return {p.path: p.message for p in problems}


@pytest.mark.parametrize("path", CARDS, ids=lambda p: p.stem)
def test_every_embedded_card_has_no_problem(path: Path) -> None:
    document = json.loads(path.read_text())
    assert validate_card_document(document) == []
    assert validate_card_pipeline(parse_card(document)) == []


def test_a_card_with_many_problems_gets_all_of_them_in_one_report() -> None:
    card = taps()
    card["version"] = "1.0"  # schema
    card["pipeline"][1]["step"] = "resampel"  # step name
    card["pipeline"][2]["params"]["nonzero"] = "yes"  # wrong type
    card["pipeline"][2]["params"]["ddof"] = 3  # a second wrong value in the same step
    card["pipeline"][3]["params"]["marg"] = 2  # unknown step parameter
    card["pipeline"][4]["params"]["network"] = "modle"  # unknown artifact
    card["pipeline"][5]["params"]["sigma"] = {"param": "sigmaa"}  # unknown card parameter
    card["pipeline"][9]["params"] = {"value": [0.5, {"param": "cutoff"}]}  # nested unknown reference
    del card["pipeline"][11]["params"]["name"]  # missing required step parameter

    problems = report(card)

    assert list(problems) == [
        "$.version",
        "$.pipeline[1].step",
        "$.pipeline[2].params.nonzero",
        "$.pipeline[2].params.ddof",
        "$.pipeline[3].params.marg",
        "$.pipeline[4].params.network",
        "$.pipeline[5].params.sigma",
        "$.pipeline[9].params.value[1]",
        "$.pipeline[11].params.name",
    ]
    assert problems["$.pipeline[1].step"] == "unknown pipeline step 'resampel'; did you mean 'resample'?"
    assert problems["$.pipeline[2].params.nonzero"] == "'nonzero' must be true or false, got 'yes'"
    assert problems["$.pipeline[2].params.ddof"] == "'ddof' must be 0 or 1, got 3"
    assert "did you mean 'margin'?" in problems["$.pipeline[3].params.marg"]
    assert "(its parameters: clip_to_image, fill, margin, threshold)" in problems["$.pipeline[3].params.marg"]
    assert problems["$.pipeline[4].params.network"] == "no artifact named 'modle'; did you mean 'model'?"
    assert "unknown card parameter 'sigmaa'; did you mean 'sigma'?" in problems["$.pipeline[5].params.sigma"]
    assert "unknown card parameter 'cutoff'" in problems["$.pipeline[9].params.value[1]"]
    assert problems["$.pipeline[11].params.name"] == "'name' is required by step 'output'"


def test_an_unknown_step_with_no_close_name_lists_the_steps() -> None:
    card = taps()
    card["pipeline"][0]["step"] = "teleport"
    message = report(card)["$.pipeline[0].step"]
    assert message.startswith("unknown pipeline step 'teleport'; known steps: activation, argmax,")


def test_outputs_the_card_declares_but_no_step_records() -> None:
    card = taps()
    card["pipeline"][11]["params"]["name"] = "Prostate"
    assert report(card) == {
        "$.pipeline[11].params.name": (
            "'Prostate' is not one of the card's outputs ['ProstateProbability', 'ProstateMask']"
        ),
        "$.pipeline": "no step records the output 'ProstateMask'",
    }


def test_values_the_card_allows_but_a_step_refuses() -> None:
    card = taps()
    overlap = next(p for p in card["parameters"] if p["name"] == "overlap")
    overlap["maximum"] = 1.0  # sliding_window's overlap must stay below 1
    card["parameters"].append({"type": "enum", "name": "grid", "choices": ["linear", "cubic"], "default": "linear"})
    card["pipeline"][1]["params"]["interpolation"] = {"param": "grid"}
    problems = report(card)
    assert problems == {
        "$.pipeline[1].params.interpolation": (
            "'interpolation' must be one of 'linear', 'nearest', 'bspline', got 'cubic' "
            "(the value of card parameter 'grid'), a value the card allows"
        ),
        "$.pipeline[4].params.overlap": (
            "'overlap' must lie in [0, 0.99], got 1.0 (the value of card parameter 'overlap'), a value the card allows"
        ),
    }
    # the default values build: a run that keeps them works, one with the refused value fails the same way
    pipeline = Pipeline.from_card(parse_card(card))
    assert pipeline.params["grid"] == "linear"
    with pytest.raises(CardError) as caught:
        Pipeline.from_card(parse_card(card), {"overlap": 1.0})
    assert [p.path for p in caught.value.problems] == ["$.pipeline[4].params.overlap"]


def test_a_reference_to_a_parameter_without_default_is_not_a_problem() -> None:
    card = taps()
    card["parameters"].append({"type": "int", "name": "margin", "minimum": 0})
    card["pipeline"][3]["params"]["margin"] = {"param": "margin"}
    assert report(card) == {}


def test_pipeline_problems_are_reported_with_schema_problems_elsewhere() -> None:
    card = taps()
    card["parameters"][0]["default"] = "high"  # the threshold parameter fails the schema ...
    card["pipeline"][9]["params"]["value"] = {"param": "threshold"}  # ... but stays a known name
    card["pipeline"][10]["step"] = "largest_components"
    problems = report(card)
    assert "$.parameters[0].default" in problems
    assert "$.pipeline[9].params.value" not in problems
    assert "did you mean 'largest_component'?" in problems["$.pipeline[10].step"]


def test_a_pipeline_that_fails_the_schema_is_left_to_the_schema_report() -> None:
    card = taps()
    card["pipeline"][1]["step"] = "Resample!"
    assert list(report(card)) == ["$.pipeline[1].step"]


def test_from_card_raises_the_same_report() -> None:
    card = taps()
    card["pipeline"][3]["params"]["marg"] = 2
    card["pipeline"][4]["params"]["network"] = "weights"
    with pytest.raises(CardError) as caught:
        Pipeline.from_card(parse_card(card))
    assert caught.value.problems == validate_card_pipeline(parse_card(card))
    assert caught.value.source == "prostate-taps@1.0.0"


def test_from_card_takes_values_resolved_for_the_card_as_they_are() -> None:
    card = parse_card(taps())
    values = resolve_parameters(card, {"threshold": "0.7"})
    assert Pipeline.from_card(card, values).params == {"threshold": 0.7, "sigma": 2.5, "overlap": 0.5}
    # not resolved a second time: values made for this card are trusted (resolve_parameters would refuse 1.5)
    vouched = ParameterValues({**values, "threshold": 1.5}, card.ref)
    assert Pipeline.from_card(card, vouched).params["threshold"] == 1.5
