"""Running a container card through run_model with a fake engine: outputs, provenance, progress and log lines,
and every way a container can fail or misbehave."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from container_helpers import LOCAL_ID, FakeEngine, container_card, small_volume, threshold_outputs
from deepinfer import ContainerError, UsageError
from deepinfer.container import ContainerJob, ContainerOptions, LineSplitter, parse_progress
from deepinfer.imaging import Geometry, Volume, read_volume, write_volume
from deepinfer.run import RunResult, run_model


def _run(tmp_path: Path, engine: FakeEngine, **options: Any) -> tuple[RunResult, list[tuple[str, int, int]], list[str]]:
    source = tmp_path / "t2.nii.gz"
    if not source.exists():
        small_volume(source)
    progress: list[tuple[str, int, int]] = []
    log: list[str] = []
    result = run_model(
        options.pop("card", None) or container_card(),
        {"T2": source},
        {"Mask": tmp_path / "mask.nii.gz", "Prob": tmp_path / "mask.Prob.nii.gz"},
        container=ContainerOptions(engine=engine, log=log.append, gpu_count=lambda: 0, **options),
        progress=lambda task, done, total: progress.append((task, done, total)),
    )
    return result, progress, log


def test_outputs_come_back_on_the_inputs_grid_with_provenance(tmp_path: Path) -> None:
    _, progress, log = _run(tmp_path, FakeEngine())

    source = read_volume(tmp_path / "t2.nii.gz")
    mask = read_volume(tmp_path / "mask.nii.gz")
    assert mask.geometry == source.geometry
    assert np.array_equal(mask.array, (source.array > source.array.mean()).astype(np.uint8))
    record = json.loads((tmp_path / "mask.provenance.json").read_text())
    assert record["runtime"] == {"type": "container", "image": LOCAL_ID}
    assert record["output"] == {"name": "Mask", "file": "mask.nii.gz"}
    assert ("inside", 1, 2) in progress and progress[-1] == ("container", 1, 1)
    assert log == ["starting", "?[31mred?[0m done"]  # terminal escapes from the container are defused


def test_a_failing_container_is_an_error_with_its_last_lines(tmp_path: Path) -> None:
    def crash(job: ContainerJob, mounts: dict[str, Path]) -> tuple[list[str], int | None]:
        return [f"line {n}" for n in range(30)] + ["Traceback: out of memory"], 137

    with pytest.raises(ContainerError) as caught:
        _run(tmp_path, FakeEngine(crash))

    message = str(caught.value)
    assert "failed with exit code 137" in message and LOCAL_ID in message
    assert "Traceback: out of memory" in message and "line 29" in message and "line 5\n" not in message
    assert not list(tmp_path.glob("mask*"))  # nothing half-written


def test_a_timeout_is_an_error_saying_the_container_was_removed(tmp_path: Path) -> None:
    def hang(job: ContainerJob, mounts: dict[str, Path]) -> tuple[list[str], int | None]:
        return ["still thinking"], None

    engine = FakeEngine(hang)
    with pytest.raises(ContainerError, match=r"ran longer than 5 s and was stopped and removed"):
        _run(tmp_path, engine, timeout_s=5)
    assert engine.jobs[0].timeout_s == 5


def test_the_cards_timeout_is_used_by_default(tmp_path: Path) -> None:
    engine = FakeEngine()
    _run(tmp_path, engine, card=container_card(timeout_s=42))
    assert engine.jobs[0].timeout_s == 42


def test_a_missing_output_is_an_error(tmp_path: Path) -> None:
    def lazy(job: ContainerJob, mounts: dict[str, Path]) -> tuple[list[str], int | None]:
        return ["done (but wrote nothing)"], 0

    with pytest.raises(ContainerError, match=r"wrote no Mask \(Mask.nrrd\)"):
        _run(tmp_path, FakeEngine(lazy))


def test_an_output_that_is_a_link_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.nrrd"
    small_volume(secret)

    def sneaky(job: ContainerJob, mounts: dict[str, Path]) -> tuple[list[str], int | None]:
        threshold_outputs(job, mounts)
        (mounts["/data/out"] / "Mask.nrrd").unlink()
        (mounts["/data/out"] / "Mask.nrrd").symlink_to(secret)
        return [], 0

    with pytest.raises(ContainerError, match="not a regular file"):
        _run(tmp_path, FakeEngine(sneaky))


def test_an_output_with_a_detached_data_file_is_refused(tmp_path: Path) -> None:
    def detached(job: ContainerJob, mounts: dict[str, Path]) -> tuple[list[str], int | None]:
        threshold_outputs(job, mounts)
        header = "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 9 8 7\nencoding: raw\ndata file: /etc/passwd\n\n"
        (mounts["/data/out"] / "Mask.nrrd").write_text(header)
        return [], 0

    with pytest.raises(ContainerError, match="separate data file"):
        _run(tmp_path, FakeEngine(detached))


def test_an_output_off_the_inputs_grid_is_refused(tmp_path: Path) -> None:
    def shifted(job: ContainerJob, mounts: dict[str, Path]) -> tuple[list[str], int | None]:
        threshold_outputs(job, mounts)
        mask = read_volume(mounts["/data/out"] / "Mask.nrrd")
        g = mask.geometry
        moved = Geometry((g.origin[0] + 1.0, g.origin[1], g.origin[2]), g.spacing, g.direction, g.size)
        write_volume(Volume(mask.array, moved), mounts["/data/out"] / "Mask.nrrd")
        return [], 0

    with pytest.raises(ContainerError, match="not on the input's grid"):
        _run(tmp_path, FakeEngine(shifted))


def test_an_unreadable_output_is_an_error(tmp_path: Path) -> None:
    def garbage(job: ContainerJob, mounts: dict[str, Path]) -> tuple[list[str], int | None]:
        threshold_outputs(job, mounts)
        (mounts["/data/out"] / "Mask.nrrd").write_bytes(b"\x00garbage")
        return [], 0

    with pytest.raises(ContainerError, match="not a readable image"):
        _run(tmp_path, FakeEngine(garbage))


def test_a_local_image_id_that_is_absent_is_a_clear_error(tmp_path: Path) -> None:
    engine = FakeEngine(images=set())
    with pytest.raises(ContainerError, match="is not on this machine; a local image id cannot be pulled"):
        _run(tmp_path, engine)
    assert engine.jobs == []


def test_inputs_are_readable_in_the_container_and_the_work_folder_is_private(tmp_path: Path) -> None:
    seen: dict[str, int] = {}

    def inspect(job: ContainerJob, mounts: dict[str, Path]) -> tuple[list[str], int | None]:
        seen["root"] = mounts["/data/in"].parent.stat().st_mode & 0o777
        seen["in"] = mounts["/data/in"].stat().st_mode & 0o777
        seen["file"] = (mounts["/data/in"] / "T2.nrrd").stat().st_mode & 0o777
        seen["out_owner"] = mounts["/data/out"].stat().st_uid
        return threshold_outputs(job, mounts)

    _run(tmp_path, FakeEngine(inspect))

    assert seen == {"root": 0o700, "in": 0o755, "file": 0o644, "out_owner": os.getuid()}


def test_options_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPINFER_CONTAINER_TIMEOUT", "90")
    monkeypatch.setenv("DEEPINFER_GPU", "1")
    options = ContainerOptions.from_environment()
    assert (options.timeout_s, options.gpu) == (90.0, "1")
    monkeypatch.setenv("DEEPINFER_CONTAINER_TIMEOUT", "soon")
    with pytest.raises(UsageError, match="DEEPINFER_CONTAINER_TIMEOUT"):
        ContainerOptions.from_environment()


@pytest.mark.parametrize(
    ("line", "event"),
    [
        ('{"event": "progress", "task": "sliding window", "done": 3, "total": 12}', ("sliding window", 3, 12)),
        ('  {"event":"progress","task":"x","done":0,"total":0}  ', ("x", 0, 0)),
        ('{"event": "progress", "task": "x", "done": -1, "total": 2}', None),
        ('{"event": "progress", "task": "x", "done": true, "total": 2}', None),
        ('{"event": "progress", "task": 7, "done": 1, "total": 2}', None),
        ('{"event": "log", "line": "progress"}', None),
        ("progress 3/12", None),
        ('{"event": "progress", "task": "x", "done": 1', None),
    ],
)
def test_progress_lines(line: str, event: tuple[str, int, int] | None) -> None:
    parsed = parse_progress(line)
    assert (None if parsed is None else (parsed.task, parsed.done, parsed.total)) == event


def test_the_log_keeps_a_bounded_tail_of_cleaned_lines() -> None:
    shown: list[str] = []
    splitter = LineSplitter(lambda *event: None, shown.append)
    for number in range(100):
        splitter(f"line {number}")
    splitter("x" * 5000)
    assert len(splitter.tail) == 20 and splitter.tail[0] == "line 81"
    assert len(shown[-1]) == 1000
