"""Card parameters are resolved once per run: resolved values carry their card and pass through unchanged."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

import deepinfer
from deepinfer._exceptions import UsageError
from deepinfer.card import (
    EnumParameter,
    IntParameter,
    ModelCard,
    ParameterValues,
    default_value,
    parse_card,
    resolve_parameters,
)

TAPS = Path(deepinfer.__file__).parent / "_registry" / "cards" / "prostate-taps.json"


@pytest.fixture
def card() -> ModelCard:
    return parse_card(json.loads(TAPS.read_text()))


def test_resolved_values_are_typed_and_name_their_card(card: ModelCard) -> None:
    values = resolve_parameters(card, {"threshold": "0.7"})
    assert values == {"threshold": 0.7, "sigma": 2.5, "overlap": 0.5}
    assert isinstance(values, ParameterValues)
    assert values.card_ref == "prostate-taps@1.0.0"


def test_values_resolved_for_the_card_are_not_resolved_again(card: ModelCard) -> None:
    values = resolve_parameters(card, {"threshold": "0.7"})
    assert resolve_parameters(card, values) is values


def test_a_plain_dict_or_another_cards_values_are_checked_again(card: ModelCard) -> None:
    values = resolve_parameters(card, {"threshold": 0.7})
    again = resolve_parameters(card, dict(values))
    assert again == values and again is not values
    with pytest.raises(UsageError, match="above the maximum"):
        resolve_parameters(card, {**values, "threshold": 1.5})
    other = card.model_copy(update={"version": "2.0.0"})
    foreign = ParameterValues({"threshold": 1.5, "sigma": 2.5, "overlap": 0.5}, other.ref)
    with pytest.raises(UsageError, match="above the maximum"):
        resolve_parameters(card, foreign)


def test_resolved_values_are_read_only_and_survive_pickle_and_json(card: ModelCard) -> None:
    values = resolve_parameters(card)
    with pytest.raises(TypeError, match="read-only"):
        values["threshold"] = "junk"
    with pytest.raises(TypeError, match="read-only"):
        values.update(threshold=2.0)
    copy = pickle.loads(pickle.dumps(values))
    assert copy == values and copy.card_ref == values.card_ref and isinstance(copy, ParameterValues)
    assert json.loads(json.dumps(values)) == dict(values)
    mutable = dict(values)
    mutable["threshold"] = 0.9
    assert values["threshold"] == 0.55


def test_default_value_is_what_a_run_gets_without_user_input() -> None:
    assert default_value(EnumParameter(name="mode", choices=["fast", "exact"])) == "fast"
    assert default_value(EnumParameter(name="mode", choices=["fast", "exact"], default="exact")) == "exact"
    assert default_value(IntParameter(name="margin", default=3)) == 3
    assert default_value(IntParameter(name="margin")) is None
