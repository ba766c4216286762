"""Class scores from a container (both protocols): the model writes a JSON or CSV file of class scores into the
shared folder and the runner reads it into the same class_scores output a pipeline gives (JSON + CSV files and
provenance). With a fake engine for the file formats and placement, and with a real 2017-style image on the real
Docker engine. Hostile score files are in the hostile corpus (tests/security/hostile_cases_files.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from container_helpers import (  # noqa: F401 (fixtures)
    LOCAL_ID,
    FakeEngine,
    legacy_image,
    no_container_left,
    real_engine,
    small_volume,
)
from deepinfer import ContainerError
from deepinfer.card import ModelCard, parse_card
from deepinfer.container import ContainerJob, ContainerOptions
from deepinfer.imaging import read_volume
from deepinfer.run import run_model

CLASSES = ["background", "target"]


def scores_card_document(image: str = LOCAL_ID, model_name: str = "planescores") -> dict[str, Any]:
    """A 2017-protocol container card whose only output is class scores per frame."""
    return {
        "id": "container-plane-scores",
        "name": "Container plane scores (test)",
        "version": "1.0.0",
        "task": "classification",
        "modality": "US",
        "anatomy": "spine",
        "license": {"code": "MIT", "weights": "MIT"},
        "inputs": [{"type": "volume", "name": "InputVolume"}],
        "outputs": [{"type": "class_scores", "name": "TargetPlane", "classes": CLASSES}],
        "runtime": {"type": "container", "image": image, "protocol": "deepinfer-2017", "model_name": model_name},
        "resources": {"memory_gb": 1.0},
    }


def _scores_card(**changes: Any) -> ModelCard:
    return parse_card(scores_card_document(**changes))


def _writes(document: Any = None, csv_text: str | None = None) -> Any:
    def behaviour(job: ContainerJob, mounts: dict[str, Path]) -> tuple[list[str], int | None]:
        folder = mounts["/data"]
        if csv_text is not None:
            (folder / "TargetPlane.csv").write_text(csv_text, encoding="utf-8")
        else:
            (folder / "TargetPlane.json").write_text(json.dumps(document), encoding="utf-8")
        return ["wrote scores"], 0

    return behaviour


def _run_fake(tmp_path: Path, engine: FakeEngine) -> dict[str, Any]:
    source = small_volume(tmp_path / "sweep.nii.gz")
    run_model(
        _scores_card(),
        {"InputVolume": source},
        {"TargetPlane": tmp_path / "scores.json"},
        container=ContainerOptions(engine=engine, gpu_count=lambda: 0),
    )
    return dict(json.loads((tmp_path / "scores.json").read_text(encoding="utf-8")))


def test_the_2017_argv_names_a_json_file_for_class_scores(tmp_path: Path) -> None:
    engine = FakeEngine(_writes({"classes": CLASSES, "planes": [{"index": 0, "scores": [0.4, 0.6]}]}))
    _run_fake(tmp_path, engine)
    assert list(engine.jobs[0].command) == [
        "--ModelName", "planescores", "--InputVolume", "/data/InputVolume.nrrd",
        "--TargetPlane", "/data/TargetPlane.json",
    ]  # fmt: skip


def test_json_scores_become_the_pipelines_class_scores_output(tmp_path: Path) -> None:
    planes = [{"index": 3, "scores": {"target": 0.9, "background": 0.1}}, {"index": 1, "scores": [0.7, 0.3]}]
    document = {"classes": CLASSES, "plane": "axial", "rule": "mean", "planes": planes}

    scores = _run_fake(tmp_path, FakeEngine(_writes(document)))

    geometry = read_volume(tmp_path / "sweep.nii.gz").geometry
    assert scores["classes"] == CLASSES and scores["plane"] == "axial" and scores["input_axis"] == 2
    assert [entry["index"] for entry in scores["planes"]] == [3, 1]  # in the container's order
    centre = geometry.index_to_physical @ np.array([4.0, 3.5, 3.0, 1.0])
    assert scores["planes"][0]["position_mm"] == pytest.approx(centre[:3], abs=1e-3)
    assert scores["decision"] == {"rule": "mean", "class": "target", "scores": {"background": 0.4, "target": 0.6}}
    assert scores["best_planes"]["target"]["index"] == 3
    assert (tmp_path / "scores.csv").read_text(encoding="utf-8").startswith("index,x_mm,y_mm,z_mm,background,target")
    record = json.loads((tmp_path / "scores.provenance.json").read_text(encoding="utf-8"))
    assert record["runtime"]["type"] == "container" and record["output"]["name"] == "TargetPlane"


def test_csv_scores_are_frames_and_the_max_rule(tmp_path: Path) -> None:
    scores = _run_fake(tmp_path, FakeEngine(_writes(csv_text="index,background,target\n0,0.2,0.8\n6,0.9,0.1\n")))
    assert scores["plane"] == "frames" and scores["decision"]["rule"] == "max"
    assert [entry["index"] for entry in scores["planes"]] == [0, 6]


def test_deepinfers_own_scores_json_is_accepted(tmp_path: Path) -> None:
    first = _run_fake(tmp_path, FakeEngine(_writes({"classes": CLASSES, "planes": [{"index": 2, "scores": [1, 0]}]})))
    again = tmp_path / "again"
    again.mkdir()
    assert _run_fake(again, FakeEngine(_writes(first)))["planes"] == first["planes"]


def test_a_container_that_writes_no_scores_is_an_error_and_nothing_is_written(tmp_path: Path) -> None:
    def silent(job: ContainerJob, mounts: dict[str, Path]) -> tuple[list[str], int | None]:
        return [], 0

    with pytest.raises(ContainerError, match=r"wrote no class scores TargetPlane \(TargetPlane.json or"):
        _run_fake(tmp_path, FakeEngine(silent))
    assert not (tmp_path / "scores.json").exists() and not (tmp_path / "scores.csv").exists()


# ------------------------------------------------------------------------------- a real image on a real engine


@pytest.mark.usefixtures("no_container_left")
def test_a_real_2017_image_writes_class_scores_per_frame(
    legacy_image: str,  # noqa: F811
    colin27_crop: Path,
    tmp_path: Path,
) -> None:
    card = tmp_path / "card.json"
    card.write_text(json.dumps(scores_card_document(image=legacy_image)), encoding="utf-8")
    output = tmp_path / "scores.json"

    ran = _cli("run", str(card), "-i", str(colin27_crop), "-o", str(output), home=tmp_path / "home")

    assert ran.returncode == 0, ran.stderr
    scores = json.loads(output.read_text(encoding="utf-8"))
    volume = read_volume(colin27_crop)  # array[i, j, k]: frame k is array[:, :, k]
    means = np.asarray(volume.array, np.float64).mean(axis=(0, 1))
    assert [entry["index"] for entry in scores["planes"]] == list(range(volume.geometry.size[2]))
    target = [entry["scores"]["target"] for entry in scores["planes"]]
    assert target == pytest.approx(means / np.abs(means).max(), abs=1e-5)
    assert scores["decision"]["class"] in CLASSES and (tmp_path / "scores.csv").is_file()
    assert json.loads((tmp_path / "scores.provenance.json").read_text(encoding="utf-8"))["runtime"]["image"]

    card.write_text(json.dumps(scores_card_document(legacy_image, "planescores-csv")), encoding="utf-8")
    assert _cli("run", str(card), "-i", str(colin27_crop), "-o", str(output), home=tmp_path / "home").returncode == 0


@pytest.mark.usefixtures("no_container_left")
def test_a_real_image_writing_nan_scores_is_refused(
    legacy_image: str,  # noqa: F811
    colin27_crop: Path,
    tmp_path: Path,
) -> None:
    card = tmp_path / "card.json"
    card.write_text(json.dumps(scores_card_document(legacy_image, "planescores-nan")), encoding="utf-8")

    ran = _cli("run", str(card), "-i", str(colin27_crop), "-o", str(tmp_path / "s.json"), home=tmp_path / "home")

    assert ran.returncode == ContainerError.exit_code
    assert "TargetPlane.json are refused: NaN is not a finite number" in " ".join(ran.stderr.split())
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith("s.")]  # nothing half-written


def _cli(*argv: str, home: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "DEEPINFER_HOME": str(home)}
    command = [sys.executable, "-m", "deepinfer", *argv]
    return subprocess.run(command, capture_output=True, encoding="utf-8", env=env, check=False, timeout=600)
