"""``deepinfer card init`` (a draft card from a real ONNX graph) and ``deepinfer card test`` (examples against
their expected outputs), through the CLI, on a real MR crop."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from package_helpers import add_file_artifact, deepinfer, tiny_onnx, write_json

from deepinfer.card import load_card
from deepinfer.imaging import read_volume, write_volume


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "my-model"
    folder.mkdir()
    tiny_onnx(folder / "tiny-net.onnx")
    return folder


def test_init_drafts_a_valid_runnable_card_from_the_graph(
    model_folder: Path, colin27_crop: Path, shared_home: Path
) -> None:
    card_file = model_folder / "card.json"

    made = deepinfer("card", "init", str(model_folder / "tiny-net.onnx"), "-o", str(card_file), home=shared_home)

    assert made.returncode == 0, made.stderr
    card = load_card(card_file)
    assert card.id == "tiny-net" and card.runtime.type == "onnx"
    assert [(m.name, m.type) for m in card.inputs] == [("image", "volume")]
    assert [(m.name, m.type) for m in card.outputs] == [("seg_logits", "labelmap")]
    model = card.artifact("model")
    assert model.sha256 == hashlib.sha256((model_folder / "tiny-net.onnx").read_bytes()).hexdigest()
    assert model.size == (model_folder / "tiny-net.onnx").stat().st_size
    assert model.source.kind == "file" and model.source.path == "tiny-net.onnx"
    assert any("Draft" in note for note in card.notes)
    assert deepinfer("card", "validate", str(card_file), home=shared_home).returncode == 0

    output = model_folder / "mask.nii.gz"
    ran = deepinfer("run", str(card_file), "-i", str(colin27_crop), "-o", str(output), home=shared_home)
    assert ran.returncode == 0, ran.stderr
    source, mask = read_volume(colin27_crop), read_volume(output)
    assert mask.geometry == source.geometry
    values = np.asarray(source.array, np.float64)
    assert np.array_equal(np.asarray(mask.array) > 0, values > values.mean())  # z-score, 2·x, sigmoid > 0.5


def test_init_with_several_output_channels_uses_softmax_and_argmax(model_folder: Path, shared_home: Path) -> None:
    tiny_onnx(model_folder / "two.onnx", channels=2)
    made = deepinfer("card", "init", str(model_folder / "two.onnx"), home=shared_home)
    assert made.returncode == 0, made.stderr
    card = json.loads(made.stdout)
    assert [step["step"] for step in card["pipeline"]][-3:] == ["activation", "argmax", "output"]
    assert card["outputs"][0]["labels"] == [{"value": 1, "name": "label1", "color": "#e6a86c"}]
    assert "parameters" not in card or card["parameters"] == []


def test_init_refuses_a_2d_network_and_a_card_outside_the_models_folder(
    model_folder: Path, tmp_path: Path, shared_home: Path
) -> None:
    tiny_onnx(model_folder / "flat.onnx", rank=4)
    flat = deepinfer("card", "init", str(model_folder / "flat.onnx"), home=shared_home)
    assert flat.returncode == 2 and "3D networks" in flat.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outside = deepinfer(
        "card", "init", str(model_folder / "tiny-net.onnx"), "-o", str(elsewhere / "c.json"), home=shared_home
    )
    assert outside.returncode == 2 and "model's folder" in outside.stderr


def _card_with_example(folder: Path, draft: dict[str, Any], crop: Path, expected: Path) -> Path:
    card = json.loads(json.dumps(draft))
    add_file_artifact(card, folder, "example_t1", crop)
    add_file_artifact(card, folder, "example_mask", expected)
    card["examples"] = [
        {"name": "colin27 crop", "inputs": {"image": "example_t1"}, "expected": {"seg_logits": "example_mask"}}
    ]
    return write_json(folder / "card.json", card)


def test_card_test_passes_on_the_golden_output_and_fails_on_a_wrong_one(
    model_folder: Path, colin27_crop: Path, shared_home: Path
) -> None:
    card_file = model_folder / "card.json"
    assert (
        deepinfer(
            "card", "init", str(model_folder / "tiny-net.onnx"), "-o", str(card_file), home=shared_home
        ).returncode
        == 0
    )
    draft = json.loads(card_file.read_text())
    golden = model_folder / "golden.nii.gz"
    ran = deepinfer("run", str(card_file), "-i", str(colin27_crop), "-o", str(golden), home=shared_home)
    assert ran.returncode == 0, ran.stderr
    _card_with_example(model_folder, draft, colin27_crop, golden)

    passed = deepinfer("card", "test", str(card_file), home=shared_home)

    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "pass" in passed.stdout and "1 check(s) passed" in passed.stdout

    wrong = read_volume(golden)
    eroded = wrong.array.copy()
    eroded[: eroded.shape[0] // 2] = 0  # half the mask missing: Dice well below 0.999
    write_volume(wrong.with_array(eroded), model_folder / "wrong.nii.gz")
    _card_with_example(model_folder, draft, colin27_crop, model_folder / "wrong.nii.gz")

    failed = deepinfer("card", "test", str(card_file), home=shared_home)

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "FAIL" in failed.stdout and "dice" in failed.stdout and "1 of 1 check(s) failed" in failed.stdout


def test_card_test_without_examples_is_a_usage_error(model_folder: Path, shared_home: Path) -> None:
    card_file = model_folder / "card.json"
    assert (
        deepinfer(
            "card", "init", str(model_folder / "tiny-net.onnx"), "-o", str(card_file), home=shared_home
        ).returncode
        == 0
    )
    result = deepinfer("card", "test", str(card_file), home=shared_home)
    assert result.returncode == 2 and "no examples" in result.stderr
