"""``deepinfer card init --task classification``: a plane-wise classification card drafted from a real 2D ONNX
classifier (built here with onnx.helper), validated, then run on the real Colin27 volume through the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from package_helpers import deepinfer

from deepinfer.card import load_card
from deepinfer.imaging import read_volume
from plane_networks import plane_classifier_onnx
from realparts import need

SPINE_CLASSES = ["transverse process", "facet joint", "lamina", "spinous process"]


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    need("onnx", "building the test classifier needs the onnx package (test extras)")
    folder = tmp_path / "spine"
    folder.mkdir()
    return folder


def _steps(card_file: Path) -> dict[str, dict[str, object]]:
    document = json.loads(card_file.read_text(encoding="utf-8"))
    return {step["step"]: step.get("params", {}) for step in document["pipeline"]}


def test_spine_template_card_is_drafted_validated_and_runs_on_every_axial_plane(
    model_folder: Path, colin27: Path, shared_home: Path
) -> None:
    model = plane_classifier_onnx(model_folder / "spine-planes.onnx", layout="NCHW", channels=1, size=(32, 40))
    card_file = model_folder / "card.json"

    made = deepinfer(
        "card", "init", "--task", "classification", "--template", "spine-planes", str(model), "-o", str(card_file),
        home=shared_home,
    )  # fmt: skip

    assert made.returncode == 0, made.stderr
    card = load_card(card_file)
    assert card.task == "classification" and card.modality == "US" and card.runtime.type == "onnx"
    [output] = card.outputs
    assert output.type == "class_scores" and output.classes == SPINE_CLASSES
    assert card.artifact("model").sha256 == hashlib.sha256(model.read_bytes()).hexdigest()
    assert card.artifact("model").size == model.stat().st_size
    assert "TODO" in card.description and any("no pretrained spine model" in note for note in card.notes)
    steps = _steps(card_file)
    assert list(steps) == ["planes", "scale_planes", "resize_planes", "infer_planes", "class_scores"]
    assert steps["resize_planes"]["size"] == [32, 40]
    assert steps["infer_planes"]["layout"] == "NCHW" and steps["infer_planes"]["channels"] == 1
    assert steps["class_scores"]["activation"] == "none"  # the graph ends in a Softmax
    assert deepinfer("card", "validate", str(card_file), home=shared_home).returncode == 0

    scores_file = model_folder / "scores.json"
    ran = deepinfer("run", str(card_file), "-i", str(colin27), "-o", str(scores_file), home=shared_home)

    assert ran.returncode == 0, ran.stderr
    scores = json.loads(scores_file.read_text(encoding="utf-8"))
    axial_planes = read_volume(colin27).geometry.size[2]  # Colin27 is stored RAS-like: k runs inferior → superior
    assert scores["plane"] == "axial" and scores["classes"] == SPINE_CLASSES
    assert [entry["index"] for entry in scores["planes"]] == list(range(axial_planes))
    assert all(abs(sum(entry["scores"].values()) - 1) < 1e-4 for entry in scores["planes"])
    assert set(scores["best_planes"]) == set(SPINE_CLASSES)
    rows = scores_file.with_suffix(".csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "index,x_mm,y_mm,z_mm," + ",".join(SPINE_CLASSES) and len(rows) == axial_planes + 1
    provenance = json.loads((model_folder / "scores.provenance.json").read_text(encoding="utf-8"))
    assert provenance["model"]["id"] == card.id


def test_named_classes_nhwc_rgb_net_and_the_plane_option(model_folder: Path, colin27: Path, shared_home: Path) -> None:
    model = plane_classifier_onnx(model_folder / "net.onnx", layout="NHWC", channels=3, size=None, classes=3)
    card_file = model_folder / "card.json"

    made = deepinfer(
        "card", "init", "--task", "classification", "--classes", "a, b ,c", "--plane", "coronal", str(model),
        "-o", str(card_file), home=shared_home,
    )  # fmt: skip

    assert made.returncode == 0, made.stderr
    steps = _steps(card_file)
    assert steps["resize_planes"]["size"] == [224, 224]  # H and W are free in the graph: the default, noted
    assert steps["infer_planes"]["layout"] == "NHWC" and steps["infer_planes"]["channels"] == 3
    card = load_card(card_file)
    assert card.outputs[0].classes == ["a", "b", "c"]  # type: ignore[union-attr]
    assert card.parameters[0].default == "coronal"
    assert any("plane size not fixed" in note for note in card.notes)

    scores_file = model_folder / "coronal.json"
    ran = deepinfer("run", str(card_file), "-i", str(colin27), "-o", str(scores_file), home=shared_home)
    assert ran.returncode == 0, ran.stderr
    scores = json.loads(scores_file.read_text(encoding="utf-8"))
    assert scores["plane"] == "coronal" and len(scores["planes"]) == read_volume(colin27).geometry.size[1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--classes", "a,b"], "4 scores per picture; 2 classes"),
        (["--classes", "a,a,b,c"], "distinct"),
        (["--template", "knee"], "no card template 'knee'"),
        (["--plane", "oblique"], "--plane 'oblique'"),
    ],
)
def test_init_classification_refuses_what_does_not_fit_the_graph(
    model_folder: Path, shared_home: Path, options: list[str], message: str
) -> None:
    model = plane_classifier_onnx(model_folder / "net.onnx")
    refused = deepinfer("card", "init", "--task", "classification", *options, str(model), home=shared_home)
    assert refused.returncode == 2 and message in " ".join(refused.stderr.split()), refused.stderr


def test_init_classification_refuses_a_3d_network(model_folder: Path, shared_home: Path) -> None:
    from tiny_networks import tiny_onnx

    tiny_onnx(model_folder / "volume.onnx")
    refused = deepinfer("card", "init", "--task", "classification", str(model_folder / "volume.onnx"), home=shared_home)
    assert refused.returncode == 2 and "2D networks" in refused.stderr
