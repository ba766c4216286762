"""``deepinfer package build`` on the real engine: the TAPS card packaged as an image (built once per run), run
through both protocols on a real MR volume, against the in-process run of the same card on the same volume."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from package_helpers import deepinfer

from container_helpers import BASE_IMAGE, no_container_left, real_engine  # noqa: F401 (fixtures)
from deepinfer._metrics import dice
from deepinfer.card import ContainerRuntime, ModelCard, load_card, parse_card
from deepinfer.container import ContainerJob, ContainerOptions, DockerEngine
from deepinfer.imaging import Volume, read_volume
from deepinfer.run import run_model
from realparts import write_t2_like

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_container_left")]

TAG = "deepinfer-test/prostate-taps:ci"
OUTPUTS = ("ProstateMask", "ProstateProbability")


@pytest.fixture(scope="module")
def t2_like(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The T2-like Colin27 probe of the parity tests: one TAPS window's worth, and a mask that is not empty."""
    return write_t2_like(colin27, tmp_path_factory.mktemp("t2") / "t2_like.nii.gz")


@pytest.fixture(scope="module")
def packaged(real_engine: DockerEngine, shared_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """The card ``package build`` wrote for the TAPS image."""
    card_file = tmp_path_factory.mktemp("package") / "taps.container.json"
    built = deepinfer(
        "package",
        "build",
        "prostate-taps",
        "--base-image",
        BASE_IMAGE,
        "--tag",
        TAG,
        "-o",
        str(card_file),
        home=shared_home,
    )
    assert built.returncode == 0, built.stderr
    runtime = load_card(card_file).runtime
    assert isinstance(runtime, ContainerRuntime) and built.stdout.strip() == runtime.image
    return card_file


@pytest.fixture(scope="module")
def in_process(t2_like: Path, shared_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Volume]:
    folder = tmp_path_factory.mktemp("in-process")
    # The image runs its networks with onnxruntime (package build's default); so does this reference run.
    target = str(folder / "mask.nii.gz")
    env = {"DEEPINFER_RUNTIME": "onnxruntime"}
    ran = deepinfer("run", "prostate-taps", "-i", str(t2_like), "-o", target, home=shared_home, env=env)
    assert ran.returncode == 0, ran.stderr
    return {
        "ProstateMask": read_volume(folder / "mask.nii.gz"),
        "ProstateProbability": read_volume(folder / "mask.ProstateProbability.nii.gz"),
    }


def _assert_same(results: dict[str, Volume], reference: dict[str, Volume], source: Path) -> None:
    geometry = read_volume(source).geometry
    mask, expected = np.asarray(results["ProstateMask"].array), np.asarray(reference["ProstateMask"].array)
    assert expected.any(), "the probe volume must give a non-empty mask"
    assert dice(mask, expected) == 1.0
    assert np.array_equal(results["ProstateProbability"].array, reference["ProstateProbability"].array)
    for name in OUTPUTS:
        assert results[name].geometry == geometry == reference[name].geometry
        assert results[name].array.dtype == reference[name].array.dtype


def test_the_new_card_pins_the_built_image(packaged: Path, real_engine: DockerEngine) -> None:  # noqa: F811
    card = load_card(packaged)
    runtime = card.runtime

    assert runtime.type == "container" and runtime.protocol == "deepinfer"
    assert runtime.image.startswith("sha256:") and real_engine.image_id(runtime.image) == runtime.image
    assert real_engine.image_id(TAG) == runtime.image
    assert card.version == f"1.0.0+image.{runtime.image[7:19]}" and card.pipeline == [] and card.artifacts == []
    assert "1e39be9d19f6f71810cb0931a7fe895441cfd318d6002730c918ee99b9d79b91" in card.notes[-1]
    assert "networks run with onnxruntime" in card.notes[-1]

    lines: list[str] = []
    show = ContainerJob(
        "deepinfer-show-card",
        runtime.image,
        ("--rm", "--network", "none", "--label", "org.deepinfer.job=show", "--entrypoint", "cat"),
        ("/opt/deepinfer/card.json",),
        60,
    )
    assert real_engine.run(show, lines.append) == 0
    inside = parse_card(json.loads("\n".join(lines)))
    model = inside.artifact("model")
    assert model.source.kind == "file" and model.source.path == f"artifacts/sha256/{model.sha256}"
    assert inside.runtime.type == "onnx" and inside.examples == []


def test_the_containerized_run_equals_the_in_process_run(
    packaged: Path, t2_like: Path, in_process: dict[str, Volume], shared_home: Path, tmp_path: Path
) -> None:
    target = tmp_path / "mask.nii.gz"
    ran = deepinfer("run", str(packaged), "-i", str(t2_like), "-o", str(target), "--progress", "json", home=shared_home)

    assert ran.returncode == 0, ran.stderr
    events = [json.loads(line) for line in ran.stderr.splitlines() if line.startswith("{")]
    windows = [e for e in events if e.get("task") == "sliding window"]  # reported by the container
    assert windows and windows[-1]["done"] == windows[-1]["total"] > 0
    results = {
        "ProstateMask": read_volume(target),
        "ProstateProbability": read_volume(tmp_path / "mask.ProstateProbability.nii.gz"),
    }
    _assert_same(results, in_process, t2_like)
    provenance = json.loads((tmp_path / "mask.provenance.json").read_text())
    runtime = load_card(packaged).runtime
    assert isinstance(runtime, ContainerRuntime) and provenance["runtime"]["image"] == runtime.image


def test_the_image_speaks_the_2017_protocol(
    packaged: Path, t2_like: Path, in_process: dict[str, Volume], tmp_path: Path
) -> None:
    document = json.loads(packaged.read_text())
    document["runtime"] = {**document["runtime"], "protocol": "deepinfer-2017", "args": []}
    legacy: ModelCard = parse_card(document)
    log: list[str] = []

    # As root, run it as another user too: the image must not need to write where that user cannot.
    user = (65534, 65534) if os.geteuid() == 0 else None
    result = run_model(
        legacy,
        {"T2": t2_like},
        {name: tmp_path / f"{name}.nrrd" for name in OUTPUTS},
        container=ContainerOptions(log=log.append, user=user),
    )

    _assert_same(result.volumes, in_process, t2_like)
    assert not [line for line in log if line.startswith("error")]
