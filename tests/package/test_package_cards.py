"""The cards ``package build`` writes (the one inside the image, the new container card) and what it refuses,
without an engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from package_helpers import add_file_artifact, tiny_onnx

from container_helpers import FakeEngine, container_card
from deepinfer import UsageError
from deepinfer.card import FileSource, ModelCard, load_card, parse_card
from deepinfer.package import build_image, draft_card, image_card, protocol_args
from deepinfer.package import container_card as new_container_card

IMAGE = "sha256:" + "cd" * 32


@pytest.fixture
def card_with_example(tmp_path: Path, colin27_crop: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    tiny_onnx(folder / "tiny-net.onnx")
    document = json.loads(draft_card(folder / "tiny-net.onnx", folder / "card.json").model_dump_json(exclude_none=True))
    add_file_artifact(document, folder, "t1", colin27_crop)
    add_file_artifact(document, folder, "mask", colin27_crop)
    document["examples"] = [{"name": "crop", "inputs": {"image": "t1"}, "expected": {"seg_logits": "mask"}}]
    card_file = folder / "card.json"
    card_file.write_text(json.dumps(document), encoding="utf-8")
    return card_file


def test_the_image_card_names_its_artifacts_as_files_in_the_store_layout(card_with_example: Path) -> None:
    card = load_card(card_with_example)

    inside = image_card(card)

    assert [a.name for a in inside.artifacts] == ["model"]
    assert inside.artifact("model").source.model_dump() == {
        "kind": "file",
        "path": f"artifacts/sha256/{card.artifact('model').sha256}",
    }
    assert inside.examples == [] and inside.pipeline == card.pipeline and inside.runtime.type == "onnx"


def test_the_container_card_keeps_the_description_and_pins_the_image(card_with_example: Path, tmp_path: Path) -> None:
    card = load_card(card_with_example)

    beside = new_container_card(card, IMAGE, card_with_example.parent, card_with_example.parent / "c.json", None)
    above = new_container_card(card, IMAGE, card_with_example.parent, tmp_path / "c.json", "2.0.0")
    below = new_container_card(card, IMAGE, card_with_example.parent, card_with_example.parent / "x" / "c.json", None)

    runtime = beside.runtime
    assert runtime.type == "container" and runtime.image == IMAGE and runtime.protocol == "deepinfer"
    assert runtime.args == protocol_args(card) and runtime.model_name == "tiny-net"
    assert beside.version == "0.1.0+image.cdcdcdcdcdcd" and above.version == "2.0.0"
    assert (beside.inputs, beside.outputs, beside.parameters) == (card.inputs, card.outputs, card.parameters)
    assert beside.pipeline == [] and "model" not in {a.name for a in beside.artifacts}
    assert card.artifact("model").sha256 in beside.notes[-1]
    assert _file_paths(beside) == ["t1.nii.gz", "mask.nii.gz"]
    assert _file_paths(above) == ["model/t1.nii.gz", "model/mask.nii.gz"]
    assert below.artifacts == [] and below.examples == []  # a path out of the card's folder is never written
    assert len(beside.examples) == 1 and len(above.examples) == 1


def _file_paths(card: ModelCard) -> list[str]:
    paths = []
    for artifact in card.artifacts:
        assert isinstance(artifact.source, FileSource)
        paths.append(artifact.source.path)
    return paths


def test_the_protocol_template_passes_every_member() -> None:
    card = container_card()
    assert protocol_args(card) == [
        "run", "--progress", "json", "--input", "T2={inputs.T2}",
        "--output", "Mask={outputs.Mask}", "--output", "Prob={outputs.Prob}",
        "--param", "threshold={params.threshold}", "--param", "note={params.note}",
        "--param", "verbose={params.verbose}", "--param", "mode={params.mode}",
    ]  # fmt: skip


def test_only_onnx_cards_with_a_plain_tag_and_a_local_base_image_are_built(
    card_with_example: Path, tmp_path: Path
) -> None:
    card = load_card(card_with_example)
    engine = FakeEngine(images=set())
    output = tmp_path / "out.json"

    with pytest.raises(UsageError, match="packages ONNX cards"):
        build_image(container_card(), None, "base", output, engine=engine)
    torchscript = parse_card({**json.loads(card_with_example.read_text()), "runtime": {"type": "torchscript"}})
    with pytest.raises(UsageError, match="TorchScript would need torch"):
        build_image(torchscript, None, "base", output, engine=engine)
    with pytest.raises(UsageError, match="--runtime 'torchscript'"):
        build_image(card, card_with_example.parent, "base", output, runtime="torchscript", engine=engine)
    with pytest.raises(UsageError, match="--tag"):
        build_image(card, card_with_example.parent, "base", output, tag="--privileged", engine=engine)
    with pytest.raises(UsageError, match="base image nothing:here is not on this machine"):
        build_image(card, card_with_example.parent, "nothing:here", output, engine=engine)
    assert engine.jobs == [] and not output.exists()
