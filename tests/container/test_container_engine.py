"""The container runner on the real Docker engine, with a 2017-style model image and a card imported from the
2017 DeepInfer registry: the original protocol, hostile parameter values, failures, timeouts, file ownership,
and no container left behind."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from container_helpers import legacy_image, no_container_left, real_engine  # noqa: F401 (fixtures)
from deepinfer import ContainerError, RuntimeUnavailableError
from deepinfer.card import ContainerRuntime, ModelCard, import_legacy
from deepinfer.container import ContainerOptions, DockerEngine
from deepinfer.imaging import read_volume
from deepinfer.run import RunResult, run_model

pytestmark = pytest.mark.usefixtures("no_container_left")

HOSTILE = {"Note": "; rm -rf /", "Note2": "$(id)", "Note3": "--privileged", "Note4": "-v /:/host"}


@pytest.fixture(scope="module")
def legacy_card(legacy_registry: Path, legacy_image: str) -> ModelCard:  # noqa: F811
    """ExampleThreshold.json of the 2017 registry, with a few more parameters, running the local legacy image."""
    document: dict[str, Any] = json.loads((legacy_registry / "ExampleThreshold.json").read_text(encoding="utf-8"))
    document["members"] += [
        {"name": "Threshold", "type": "float", "iotype": "parameter", "default": 60.0},
        {"name": "Verbose", "type": "bool", "iotype": "parameter", "default": "false"},
        *({"name": name, "type": "string", "iotype": "parameter", "default": "x"} for name in HOSTILE),
    ]
    card, _ = import_legacy(document, "ExampleThreshold.json")
    return _with_runtime(card, image=legacy_image)


def _with_runtime(card: ModelCard, **changes: Any) -> ModelCard:
    return card.model_copy(update={"runtime": card.runtime.model_copy(update=changes)})


def _run(
    card: ModelCard, source: Path, folder: Path, params: dict[str, Any] | None = None, **options: Any
) -> tuple[RunResult, dict[str, Any], list[tuple[str, int, int]]]:
    log: list[str] = []
    progress: list[tuple[str, int, int]] = []
    result = run_model(
        card,
        {"InputVolume": source},
        {"OutputLabel": folder / "label.nii.gz"},
        params or {},
        container=ContainerOptions(log=log.append, **options),
        progress=lambda *event: progress.append(event),
    )
    report = next(json.loads(line) for line in log if line.startswith('{"argv"'))
    return result, report, progress


def test_a_2017_card_runs_with_the_original_conventions(
    legacy_card: ModelCard, colin27_crop: Path, tmp_path: Path
) -> None:
    result, report, progress = _run(legacy_card, colin27_crop, tmp_path, {"Verbose": False})

    argv = report["argv"]
    assert argv[:6] == [
        "--ModelName",
        "threshold",
        "--InputVolume",
        "/data/InputVolume.nrrd",
        "--OutputLabel",
        "/data/OutputLabel.nrrd",
    ]
    assert argv[6:8] == ["--Threshold", "60.0"] and "--Verbose" not in argv
    source, label = read_volume(colin27_crop), read_volume(tmp_path / "label.nii.gz")
    assert label.geometry == source.geometry
    assert np.array_equal(label.array, (np.asarray(source.array) > 60).astype(np.uint8))
    assert ("legacy model", 1, 2) in progress
    assert isinstance(legacy_card.runtime, ContainerRuntime)
    assert result.provenance["runtime"]["image"] == legacy_card.runtime.image

    _, report, _ = _run(legacy_card, colin27_crop, tmp_path, {"Verbose": True})
    assert report["argv"][8] == "--Verbose"  # a boolean is a bare flag, passed only when true


def test_hostile_values_reach_the_container_as_single_argv_items(
    legacy_card: ModelCard, colin27_crop: Path, tmp_path: Path
) -> None:
    _, report, _ = _run(legacy_card, colin27_crop, tmp_path, dict(HOSTILE))

    argv = report["argv"]
    for name, value in HOSTILE.items():
        position = argv.index(f"--{name}")
        assert argv[position + 1] == value
    assert report["uid"] == os.getuid()  # not root through an injected --user, not privileged either


def test_a_failing_container_gives_a_clear_error(legacy_card: ModelCard, colin27_crop: Path, tmp_path: Path) -> None:
    failing = _with_runtime(legacy_card, model_name="fail")

    with pytest.raises(ContainerError) as caught:
        _run(failing, colin27_crop, tmp_path)

    message = str(caught.value)
    assert "failed with exit code 3" in message and "model crashed: out of cheese" in message
    assert not list(tmp_path.iterdir())


def test_a_timeout_kills_and_removes_the_container(
    legacy_card: ModelCard,
    colin27_crop: Path,
    tmp_path: Path,
    real_engine: DockerEngine,  # noqa: F811
) -> None:
    sleeping = _with_runtime(legacy_card, model_name="sleep")
    start = time.monotonic()

    with pytest.raises(ContainerError, match="ran longer than 3 s and was stopped and removed"):
        _run(sleeping, colin27_crop, tmp_path, timeout_s=3)

    assert time.monotonic() - start < 60
    assert real_engine.containers() == []


def test_outputs_belong_to_the_calling_user(legacy_card: ModelCard, colin27_crop: Path, tmp_path: Path) -> None:
    _, report, _ = _run(legacy_card, colin27_crop, tmp_path)

    assert (report["uid"], report["gid"]) == (os.getuid(), os.getgid())
    for written in tmp_path.iterdir():
        assert (written.stat().st_uid, written.stat().st_gid) == (os.getuid(), os.getgid())
        written.unlink()  # and the user can delete them


@pytest.mark.skipif(os.geteuid() != 0, reason="running a job as another user needs root")
def test_a_root_service_runs_a_job_as_another_user(legacy_card: ModelCard, colin27_crop: Path, tmp_path: Path) -> None:
    _, report, _ = _run(legacy_card, colin27_crop, tmp_path, user=(65534, 65534))

    assert (report["uid"], report["gid"]) == (65534, 65534)
    assert (tmp_path / "label.nii.gz").is_file()


def test_an_unreachable_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(RuntimeUnavailableError, match="not found; install docker"):
        DockerEngine(program=str(tmp_path / "no-docker")).check()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'nothing.sock'}")
    with pytest.raises(RuntimeUnavailableError, match="not reachable"):
        DockerEngine().check()
