"""A plane-wise classification card packaged with ``deepinfer package build`` and run from its image on the real
engine: the image's entrypoint writes the scores JSON into the shared folder and the runner reads it back into
the same class-scores output as the in-process run (our protocol and the 2017 one)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from package_helpers import deepinfer

from container_helpers import BASE_IMAGE, no_container_left, real_engine  # noqa: F401 (fixtures)
from deepinfer.card import ContainerRuntime, load_card, parse_card
from deepinfer.container import ContainerOptions, DockerEngine
from deepinfer.run import run_model
from plane_networks import plane_mean_card
from realparts import need

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_container_left")]


@pytest.fixture(scope="module")
def classifier_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("onnx", "building the test classifier needs the onnx package (test extras)")
    return plane_mean_card(tmp_path_factory.mktemp("plane-mean"), plane="coronal")


@pytest.fixture(scope="module")
def packaged(
    real_engine: DockerEngine,  # noqa: F811
    classifier_card: Path,
    shared_home: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    card_file = tmp_path_factory.mktemp("package") / "plane-mean.container.json"
    built = deepinfer(
        "package", "build", str(classifier_card), "--base-image", BASE_IMAGE, "-o", str(card_file), home=shared_home
    )
    assert built.returncode == 0, built.stderr
    assert isinstance(load_card(card_file).runtime, ContainerRuntime)
    return card_file


def _scores(path: Path) -> dict[str, Any]:
    document = dict(json.loads(path.read_text(encoding="utf-8")))
    document.pop("model")
    return document


def test_a_packaged_classifier_gives_the_in_process_scores(
    classifier_card: Path, packaged: Path, colin27_crop: Path, shared_home: Path, tmp_path: Path
) -> None:
    here, there = tmp_path / "here.json", tmp_path / "there.json"
    for card, target in ((classifier_card, here), (packaged, there)):
        ran = deepinfer("run", str(card), "-i", str(colin27_crop), "-o", str(target), home=shared_home)
        assert ran.returncode == 0, ran.stderr

    expected, got = _scores(here), _scores(there)
    assert got["plane"] == "coronal" and len(got["planes"]) == len(expected["planes"]) > 1
    assert got == expected  # rounded to 6 digits in both files; positions recomputed from the same geometry
    assert there.with_suffix(".csv").read_text(encoding="utf-8") == here.with_suffix(".csv").read_text(encoding="utf-8")
    provenance = json.loads((tmp_path / "there.provenance.json").read_text(encoding="utf-8"))
    assert provenance["runtime"]["type"] == "container"


def test_the_packaged_classifier_speaks_the_2017_protocol(
    classifier_card: Path, packaged: Path, colin27_crop: Path, shared_home: Path, tmp_path: Path
) -> None:
    document = json.loads(packaged.read_text(encoding="utf-8"))
    document["runtime"] = {**document["runtime"], "protocol": "deepinfer-2017", "args": []}
    user = (65534, 65534) if os.geteuid() == 0 else None

    result = run_model(
        parse_card(document),
        {"image": colin27_crop},
        {"scores": tmp_path / "legacy.json"},
        container=ContainerOptions(user=user),
    )

    here = tmp_path / "here.json"
    assert (
        deepinfer("run", str(classifier_card), "-i", str(colin27_crop), "-o", str(here), home=shared_home).returncode
        == 0
    )
    assert _scores(tmp_path / "legacy.json") == _scores(here)
    assert result.scores["scores"].plane == "coronal"
