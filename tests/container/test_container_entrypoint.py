"""The entrypoint of built images (``python3 -m deepinfer.container``), run in this process on a real ONNX card:
both command lines give the same result as run_model, and bad command lines are clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from container_helpers import container_card
from deepinfer.card import dump_card
from deepinfer.container._entrypoint import main, parse_2017, parse_ours
from deepinfer.imaging import read_volume
from deepinfer.package import draft_card
from deepinfer.run import run_model
from tiny_networks import tiny_onnx


@pytest.fixture
def tiny_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "image"
    folder.mkdir()
    tiny_onnx(folder / "tiny-net.onnx")
    card_file = folder / "card.json"
    card_file.write_text(dump_card(draft_card(folder / "tiny-net.onnx", card_file)), encoding="utf-8")
    monkeypatch.setenv("DEEPINFER_IMAGE_CARD", str(card_file))
    monkeypatch.setenv("DEEPINFER_HOME", str(tmp_path / "home"))
    return card_file


def _reference(card_file: Path, source: Path, target: Path) -> np.ndarray:
    from deepinfer.card import load_card

    run_model(
        load_card(card_file), {"image": source}, {"seg_logits": target}, {"threshold": 0.7}, card_dir=card_file.parent
    )
    return np.asarray(read_volume(target).array)


def test_both_command_lines_match_the_in_process_run(
    tiny_card: Path, colin27_crop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _reference(tiny_card, colin27_crop, tmp_path / "reference.nrrd")
    ours, legacy = tmp_path / "ours.nrrd", tmp_path / "legacy.nrrd"

    inputs = ["--input", f"image={colin27_crop}", "--output", f"seg_logits={ours}"]
    code = main(["run", "--progress", "json", *inputs, "--param", "threshold=0.7"])
    assert code == 0
    progress = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert {"event": "progress", "task": "sliding window", "done": 1, "total": 1} in progress

    code = main(
        ["--ModelName", "tiny-net", "--image", str(colin27_crop), "--seg_logits", str(legacy), "--threshold", "0.7"]
    )
    assert code == 0
    for written in (ours, legacy):
        assert np.array_equal(read_volume(written).array, expected)
        assert read_volume(written).geometry == read_volume(colin27_crop).geometry


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ModelName", "other-model", "--image", "x.nrrd"], "holds the model 'tiny-net', not 'other-model'"),
        (["--Nope", "1"], "unexpected argument '--Nope'; this model takes --ModelName --image --seg_logits"),
        (["run", "--input"], "options come in pairs"),
        (["run", "--input", "image"], "NAME=VALUE"),
        (["run", "--input", "image=/nowhere.nrrd"], "give one or more of the outputs seg_logits"),
        (["run", "--input", "image=/x.nrrd", "--output", "other=/y.nrrd"], "(not other)"),
    ],
)
def test_bad_command_lines_are_usage_errors(
    tiny_card: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_values_are_never_read_as_options() -> None:
    card = container_card()

    ours = parse_ours(card, ["--param", "note=--privileged", "--param", "threshold=0.2", "--input", "T2=a=b.nrrd"])
    legacy = parse_2017(card, ["--note", "--privileged", "--verbose", "--T2", "/data/T2.nrrd", "--threshold", "0.2"])

    assert ours.params == {"note": "--privileged", "threshold": "0.2"} and ours.inputs == {"T2": Path("a=b.nrrd")}
    assert legacy.params == {"note": "--privileged", "verbose": True, "threshold": "0.2"}
    assert legacy.inputs == {"T2": Path("/data/T2.nrrd")}
    assert parse_2017(card, ["--verbose", "false"]).params == {"verbose": "false"}
