"""The argv of a container run (fake engine): isolation flags, mounts, both protocols, GPU flags, user values as
single items after the image name."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest

from container_helpers import LOCAL_ID, FakeEngine, container_card, small_volume
from deepinfer import RuntimeUnavailableError, UsageError
from deepinfer.card import ContainerRuntime, ModelCard, import_legacy
from deepinfer.container import ContainerJob, ContainerOptions, DockerEngine, PodmanEngine, gpu_device
from deepinfer.container._argv import JobFolder, command_argv, mount_options
from deepinfer.run import run_model

HOSTILE = ["; rm -rf /", "$(id)", "--privileged", "-v /:/host", "`reboot`", "a  b && c", "--user=0:0"]


def _run(tmp_path: Path, card: ModelCard | None = None, **options: Any) -> tuple[FakeEngine, ContainerJob]:
    engine = FakeEngine()
    card = card or container_card()
    source = small_volume(tmp_path / "t2.nii.gz")
    params = options.pop("params", {})
    run_model(
        card,
        {"T2": source},
        {"Mask": tmp_path / "mask.nii.gz"},
        params,
        container=ContainerOptions(engine=engine, gpu_count=lambda: 0, **options),
    )
    return engine, engine.jobs[0]


def _pair(options: tuple[str, ...], flag: str) -> list[str]:
    return [value for key, value in itertools.pairwise(options) if key == flag]


def test_a_run_is_isolated_and_limited_by_the_card(tmp_path: Path) -> None:
    _, job = _run(tmp_path)

    assert job.image == LOCAL_ID
    options = job.options
    assert "--rm" in options
    assert _pair(options, "--network") == ["none"]
    assert _pair(options, "--cap-drop") == ["ALL"]
    assert _pair(options, "--security-opt") == ["no-new-privileges"]
    assert _pair(options, "--memory") == ["2560m"] and _pair(options, "--memory-swap") == ["2560m"]
    assert _pair(options, "--user") == [f"{os.getuid()}:{os.getgid()}"]
    assert _pair(options, "--label")[0] == f"org.deepinfer.job={job.name}"  # then the owner's (test_container_orphans)
    assert "--gpus" not in options and "--privileged" not in options
    assert job.timeout_s == 3600


def test_in_is_mounted_read_only_and_out_writable(tmp_path: Path) -> None:
    _, job = _run(tmp_path)

    mounts = _pair(job.options, "--mount")
    assert len(mounts) == 2
    inside, outside = (dict(p.partition("=")[::2] for p in m.split(",")) for m in mounts)
    assert inside["target"] == "/data/in" and "readonly" in mounts[0]
    assert outside["target"] == "/data/out" and "readonly" not in mounts[1]
    assert Path(inside["source"]).name == "in" and Path(outside["source"]).name == "out"
    assert not Path(inside["source"]).parent.exists()  # the work folder is removed after the run


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_parameter_value_is_one_argv_item_after_the_image(tmp_path: Path, value: str) -> None:
    _, job = _run(tmp_path, params={"note": value, "mode": "slow"})

    assert value in job.command  # one item, verbatim: no shell ever sees it
    assert value not in job.options and not any(value in option for option in job.options)
    assert job.command == (
        "run",
        "--input",
        "T2=/data/in/T2.nrrd",
        "--output",
        "Mask=/data/out/Mask.nrrd",
        "--output",
        "Prob=/data/out/Prob.nrrd",
        "--threshold=0.5",
        value,
        "--verbose=false",
        "--mode",
        "slow",
    )


def test_the_2017_protocol_uses_the_original_conventions(legacy_registry: Path) -> None:
    card, _ = import_legacy(_document(legacy_registry, "ProstateSegmenter.json"), "ProstateSegmenter.json")
    runtime = card.runtime
    assert isinstance(runtime, ContainerRuntime)
    values = {"Domain": "PROMISE12", "ProcessingType": "Fast", "InferenceType": "Ensemble"}

    off = command_argv(card, runtime, {**values, "OutputSmoothing": False, "verbose": False})
    on = command_argv(card, runtime, {**values, "OutputSmoothing": True, "verbose": False})

    assert off == [
        "--ModelName",
        "prostate-segmenter",
        "--InputVolume",
        "/data/InputVolume.nrrd",
        "--OutputLabel",
        "/data/OutputLabel.nrrd",
        "--Domain",
        "PROMISE12",
        "--ProcessingType",
        "Fast",
        "--InferenceType",
        "Ensemble",
    ]
    assert on == [*off, "--OutputSmoothing"]  # a boolean only when true, as a bare flag


def test_the_2017_protocol_mounts_at_the_cards_data_path(legacy_registry: Path, tmp_path: Path) -> None:
    card, _ = import_legacy(_document(legacy_registry, "NeedleFinder-gpu.json"), "NeedleFinder-gpu.json")
    job = JobFolder(tmp_path)
    assert isinstance(card.runtime, ContainerRuntime)

    mounts = mount_options(card.runtime, job, ["InputVolume"])
    argv = command_argv(card, card.runtime, {"MinObjectSize": 100, "MaxLineFitError": 2.0})

    assert mounts == [
        "--mount",
        f"type=bind,source={tmp_path / 'out'},target=/app/data",
        "--mount",
        f"type=bind,source={tmp_path / 'in' / 'InputVolume.nrrd'},target=/app/data/InputVolume.nrrd,readonly",
    ]
    assert argv[:4] == ["--InputVolume", "/app/data/InputVolume.nrrd", "--OutputLabel", "/app/data/OutputLabel.nrrd"]
    assert argv[4:] == ["--MinObjectSize", "100", "--MaxLineFitError", "2.0"]


def test_a_work_folder_with_a_comma_is_refused(tmp_path: Path) -> None:
    card = container_card()
    assert isinstance(card.runtime, ContainerRuntime)
    with pytest.raises(UsageError, match="must not contain"):
        mount_options(card.runtime, JobFolder(tmp_path / "a,b"), ["T2"])


# ------------------------------------------------------------------------------------------------------ GPU


def test_gpu_flags_follow_the_card_and_the_machine(tmp_path: Path) -> None:
    optional = container_card(gpu="optional")
    engine = FakeEngine()
    source = small_volume(tmp_path / "t2.nii.gz")

    def options_with(count: int, gpu: str | None) -> tuple[str, ...]:
        engine.jobs.clear()
        run_model(
            optional,
            {"T2": source},
            {"Mask": tmp_path / "mask.nii.gz"},
            container=ContainerOptions(engine=engine, gpu=gpu, gpu_count=lambda: count),
        )
        return engine.jobs[0].options

    assert _pair(options_with(2, None), "--gpus") == ["all"]
    assert _pair(options_with(2, "1"), "--gpus") == ["device=1"]
    assert "--gpus" not in options_with(0, None)
    assert "--gpus" not in options_with(2, "none")


def test_gpu_choice_rules() -> None:
    assert gpu_device("m", "none", "all", lambda: 4) is None
    assert gpu_device("m", "required", None, lambda: 1) == "all"
    with pytest.raises(RuntimeUnavailableError, match="requires an NVIDIA GPU and none was found"):
        gpu_device("m@1", "required", None, lambda: 0)
    with pytest.raises(RuntimeUnavailableError, match="turned off"):
        gpu_device("m@1", "required", "none", lambda: 2)
    with pytest.raises(UsageError, match="GPU 3 does not exist"):
        gpu_device("m", "optional", "3", lambda: 2)
    with pytest.raises(UsageError, match="DEEPINFER_GPU"):
        gpu_device("m", "optional", "--privileged", lambda: 2)


def test_a_required_gpu_that_is_absent_stops_the_run_before_the_container(tmp_path: Path) -> None:
    engine = FakeEngine()
    with pytest.raises(RuntimeUnavailableError, match="requires an NVIDIA GPU"):
        run_model(
            container_card(gpu="required"),
            {"T2": small_volume(tmp_path / "t2.nii.gz")},
            {"Mask": tmp_path / "mask.nii.gz"},
            container=ContainerOptions(engine=engine, gpu_count=lambda: 0),
        )
    assert engine.jobs == [] and not (tmp_path / "mask.nii.gz").exists()


def test_engine_specific_flags() -> None:
    assert DockerEngine().gpu_options("all") == ["--gpus", "all"]
    assert DockerEngine().gpu_options("2") == ["--gpus", "device=2"]
    assert PodmanEngine().gpu_options("all") == ["--device", "nvidia.com/gpu=all"]
    assert PodmanEngine().user_options(1000, 1000)[-2:] == ["--user", "1000:1000"]
    assert PodmanEngine(global_options=["--runtime", "runc"]).command("ps") == ["podman", "--runtime", "runc", "ps"]


def _document(folder: Path, name: str) -> dict[str, Any]:
    import json

    document: dict[str, Any] = json.loads((folder / name).read_text(encoding="utf-8"))
    return document


def test_the_engine_is_chosen_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from deepinfer.container import detect_engine

    monkeypatch.setenv("DEEPINFER_CONTAINER_ENGINE", "podman")
    monkeypatch.setenv("DEEPINFER_PODMAN_OPTIONS", "--runtime runc  --cgroup-manager cgroupfs")
    engine = detect_engine()
    assert isinstance(engine, PodmanEngine)
    assert engine.command("ps") == ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "ps"]
    assert isinstance(detect_engine("docker"), DockerEngine)
    monkeypatch.setenv("DEEPINFER_CONTAINER_ENGINE", "docker; rm -rf /")
    with pytest.raises(UsageError, match="unknown container engine"):
        detect_engine()
