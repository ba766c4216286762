"""`Pipeline` from the prostate-taps card: parameters, outputs on the input grid, slots, card cross-checks."""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from typing import Any

import numpy as np
import pytest
from pipeline_helpers import run_steps_on

from deepinfer._exceptions import CardError, PipelineError, UsageError
from deepinfer.card import ModelCard, parse_card
from deepinfer.imaging import Volume
from deepinfer.pipeline import Pipeline

REGISTRY = importlib.resources.files("deepinfer") / "_registry"


@pytest.fixture(scope="module")
def card_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((REGISTRY / "cards" / "prostate-taps.json").read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def card(card_document: dict[str, Any]) -> ModelCard:
    return parse_card(card_document, "prostate-taps.json")


def fake_network(batch: np.ndarray) -> np.ndarray:
    return ((batch - 0.3) * 2.0).astype(np.float32)


def test_the_index_pins_the_card_file() -> None:
    index = json.loads((REGISTRY / "index.json").read_text(encoding="utf-8"))
    (entry,) = [e for e in index["cards"] if e["id"] == "prostate-taps"]
    card_bytes = (REGISTRY / entry["path"]).read_bytes()
    assert entry["version"] == "1.0.0"
    assert entry["sha256"] == hashlib.sha256(card_bytes).hexdigest()


def test_the_card_describes_the_taps_wheel_member(card: ModelCard) -> None:
    model = card.artifact("model")
    assert (model.sha256, model.size) == ("1e39be9d19f6f71810cb0931a7fe895441cfd318d6002730c918ee99b9d79b91", 79721153)
    assert model.source.model_dump() == {
        "kind": "wheel", "package": "lavlab-taps", "version": "1.1.2", "path": "taps/resources/model_v1.onnx"
    }  # fmt: skip
    assert card.runtime.type == "onnx"
    assert [o.name for o in card.outputs] == ["ProstateProbability", "ProstateMask"]


def test_parameters_are_checked_and_defaulted(card: ModelCard) -> None:
    assert Pipeline.from_card(card).params == {"threshold": 0.55, "sigma": 2.5, "overlap": 0.5}
    assert Pipeline.from_card(card, {"threshold": "0.7"}).params["threshold"] == 0.7
    with pytest.raises(UsageError, match="above the maximum"):
        Pipeline.from_card(card, {"threshold": 1.5})
    with pytest.raises(UsageError, match="has no parameter thresh"):
        Pipeline.from_card(card, {"thresh": 0.5})
    with pytest.raises(UsageError, match="is not a number"):
        Pipeline.from_card(card, {"sigma": "wide"})


def test_run_records_every_output_on_the_exact_input_grid(card: ModelCard, small_mr: Volume) -> None:
    outputs = Pipeline.from_card(card, {"threshold": 0.6}).run(small_mr, lambda name: fake_network)
    assert set(outputs) == {"ProstateProbability", "ProstateMask"}
    for volume in outputs.values():
        assert volume.geometry == small_mr.geometry
    probability, mask = outputs["ProstateProbability"].array, outputs["ProstateMask"].array
    assert probability.dtype == np.float32 and mask.dtype == np.uint8
    assert probability.min() >= 0.0 and probability.max() <= 1.0
    assert set(np.unique(mask)) == {0, 1}
    assert (probability[mask == 1] > 0.6).all()


def altered(document: dict[str, Any], index: int, step: dict[str, Any]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(document))
    copy["pipeline"][index] = step
    return copy


def test_steps_must_fit_the_card(card_document: dict[str, Any]) -> None:
    document = altered(card_document, 4, {"step": "sliding_window", "params": {"roi": 64, "network": "weights"}})
    document = altered(document, 11, {"step": "output", "params": {"name": "Mask", "dtype": "uint8"}})
    with pytest.raises(CardError) as caught:
        Pipeline.from_card(parse_card(document))
    problems = {p.path: p.message for p in caught.value.problems}
    assert problems == {
        "$.pipeline[4].params.network": "no artifact named 'weights'",
        "$.pipeline[11].params.name": "'Mask' is not one of the card's outputs ['ProstateProbability', 'ProstateMask']",
        "$.pipeline": "no step records the output 'ProstateMask'",
    }


def test_output_before_restore_geometry_is_refused(small_mr: Volume) -> None:
    with pytest.raises(PipelineError, match="add restore_geometry before it"):
        run_steps_on(small_mr, [("resample", {"spacing": 2.0}), ("output", {"name": "Out"})])


def test_integer_outputs_must_fit_their_dtype(small_mr: Volume) -> None:
    with pytest.raises(PipelineError, match="do not fit uint8"):
        run_steps_on(small_mr, [("normalize_minmax", {"maximum": 300}), ("output", {"name": "Out", "dtype": "uint8"})])


def test_save_and_load_keep_the_image_and_its_undo_stack(small_mr: Volume) -> None:
    state = run_steps_on(
        small_mr,
        [
            ("reorient", {"orientation": "RAS"}),
            ("save", {"slot": "oriented"}),
            ("resample", {"spacing": 2.0}),
            ("load", {"slot": "oriented"}),
            ("restore_geometry", {}),
            ("output", {"name": "Same", "dtype": "int16"}),
        ],
    )
    np.testing.assert_array_equal(state.outputs["Same"].array, small_mr.array)
    with pytest.raises(PipelineError, match="nothing was saved in slot 'missing'"):
        run_steps_on(small_mr, [("load", {"slot": "missing"})])


def test_a_pipeline_without_output_fails(small_mr: Volume) -> None:
    with pytest.raises(PipelineError, match="recorded no output"):
        Pipeline([]).run(small_mr, lambda name: fake_network)
