"""Leftovers of killed runs, through the engine seam (a fake engine): the owner labels and owner.json of a run,
the stop-signal handling, and which containers and work folders count as orphans (only those whose deepinfer
process on this host has ended; nothing on a guess, no link followed)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from container_helpers import FakeEngine, container_card, small_volume, threshold_outputs
from deepinfer.cli import run_cli
from deepinfer.container import (
    JOB_LABEL,
    ContainerJob,
    ContainerOptions,
    Owner,
    SignalExit,
    exit_on_signals,
    prune_orphans,
    run_container,
)
from deepinfer.imaging import read_volume

HOST = socket.gethostname()
VALUES = {"threshold": 0.5, "note": "plain", "verbose": False, "mode": "fast"}


def _ended_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _labels(owner: Owner, name: str) -> dict[str, str]:
    return {JOB_LABEL: name, **owner.labels()}


def _work_folder(root: Path, name: str, owner: Owner | None) -> Path:
    folder = root / f"deepinfer-job-{name}"
    (folder / "in").mkdir(parents=True)
    (folder / "in" / "T2.nrrd").write_bytes(b"a copy of the input")
    if owner is not None:
        (folder / "owner.json").write_text(owner.to_json(), encoding="utf-8")
    return folder


def _run(tmp_path: Path, engine: FakeEngine, log: list[str] | None = None) -> dict[str, object]:
    card, log = container_card(), [] if log is None else log
    volume = read_volume(small_volume(tmp_path / "t2.nii.gz"))
    options = ContainerOptions(engine=engine, gpu_count=lambda: 0, work_root=tmp_path, log=log.append)
    return dict(run_container(card, {"T2": volume}, VALUES, ["Mask"], options, lambda *event: None).volumes)


# ------------------------------------------------------------------------------------------ what a run records


def test_a_run_labels_its_container_and_records_its_owner_in_the_work_folder(tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    def record(job: ContainerJob, mounts: dict[str, Path]) -> tuple[list[str], int | None]:
        root = mounts["/data/in"].parent
        seen["root"], seen["owner"] = root, json.loads((root / "owner.json").read_text())
        return threshold_outputs(job, mounts)

    engine = FakeEngine(record)
    _run(tmp_path, engine)

    labels = dict(
        value.split("=", 1) for flag, value in itertools.pairwise(engine.jobs[0].options) if flag == "--label"
    )
    me = Owner.current()
    assert labels == {
        JOB_LABEL: engine.jobs[0].name,
        "org.deepinfer.host": HOST,
        "org.deepinfer.pid": str(os.getpid()),
        "org.deepinfer.started": me.started,
    }
    assert me.started  # Linux: the pid's start time is recorded, so a reused pid is not taken for us
    assert seen["owner"] == {"host": HOST, "pid": os.getpid(), "started": me.started}
    assert not Path(str(seen["root"])).exists()  # the work folder goes after the run


# --------------------------------------------------------------------------------------------- which are orphans


def test_owners_that_ended_are_gone_and_living_ones_are_not() -> None:
    me = Owner.current()
    assert not me.is_gone()
    assert Owner(HOST, _ended_pid(), me.started).is_gone()
    assert Owner(HOST, os.getpid(), "1").is_gone()  # our pid, another start time: the pid was reused
    assert not Owner("another-host", _ended_pid()).is_gone()  # another host's processes are not ours to judge
    assert not Owner(HOST, 1).is_gone()  # pid 1 lives (a process we may not signal: PermissionError as root too)


def test_a_zombie_owner_counts_as_ended() -> None:
    process = subprocess.Popen(["true"])  # not reaped: a zombie once it exits
    deadline = time.monotonic() + 30
    owner = Owner(HOST, process.pid)
    while not owner.is_gone() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert owner.is_gone()
    finally:
        process.wait()


def test_owner_records_that_are_not_whole_are_no_owner() -> None:
    for text in ["", "{", "[]", '{"host": "h"}', '{"host": "h", "pid": "x"}', '{"host": "h", "pid": -3}']:
        assert Owner.from_json(text) is None
    assert Owner.from_labels({JOB_LABEL: "x"}) is None
    assert Owner.from_json('{"host": "h", "pid": 7, "started": "9"}') == Owner("h", 7, "9")


def test_a_run_removes_the_containers_of_ended_owners_only(tmp_path: Path) -> None:
    dead, me = Owner(HOST, _ended_pid()), Owner.current()
    engine = FakeEngine(
        existing={
            "deepinfer-dead": _labels(dead, "deepinfer-dead"),
            "deepinfer-reused": _labels(Owner(HOST, os.getpid(), "1"), "deepinfer-reused"),
            "deepinfer-live": _labels(me, "deepinfer-live"),
            "deepinfer-elsewhere": _labels(Owner("another-host", dead.pid), "deepinfer-elsewhere"),
            "deepinfer-2024": {JOB_LABEL: "deepinfer-2024"},  # no owner labels (an older deepinfer): left alone
            "unrelated": {"org.deepinfer.pid": str(dead.pid), "org.deepinfer.host": HOST},  # not a deepinfer job
        }
    )
    log: list[str] = []

    _run(tmp_path, engine, log)

    assert sorted(engine.removed) == ["deepinfer-dead", "deepinfer-reused"]
    assert sorted(engine.existing) == ["deepinfer-2024", "deepinfer-elsewhere", "deepinfer-live", "unrelated"]
    assert f"removed the orphaned container deepinfer-dead (its deepinfer process {dead.pid} has ended)" in log


def test_work_folders_of_ended_owners_are_found_listed_and_removed(tmp_path: Path) -> None:
    dead = Owner(HOST, _ended_pid())
    orphan = _work_folder(tmp_path, "orphan", dead)
    keep = [
        _work_folder(tmp_path, "live", Owner.current()),
        _work_folder(tmp_path, "no-owner", None),  # being made, or left by an older deepinfer
        _work_folder(tmp_path, "elsewhere", Owner("another-host", dead.pid)),
    ]
    target = _work_folder(tmp_path / "outside", "target", dead)
    (tmp_path / "deepinfer-job-link").symlink_to(target)  # a link is never followed
    fifo_folder = _work_folder(tmp_path, "fifo", None)
    os.mkfifo(fifo_folder / "owner.json")  # must not block the search
    linked_owner = _work_folder(tmp_path, "linked-owner", None)
    (linked_owner / "owner.json").symlink_to(target / "owner.json")
    (tmp_path / "deepinfer-job-file").write_text(dead.to_json())

    listed, problems = prune_orphans(None, [tmp_path], dry_run=True)
    assert [(item.kind, item.name) for item in listed] == [("work folder", str(orphan))] and problems == []
    assert orphan.is_dir()  # a dry run removes nothing

    removed, problems = prune_orphans(None, [tmp_path])
    assert [item.name for item in removed] == [str(orphan)] and problems == []
    assert not orphan.exists()
    assert all(folder.is_dir() for folder in [*keep, target, fifo_folder, linked_owner])


def test_cache_prune_lists_and_removes_orphans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import deepinfer.container

    dead = Owner(HOST, _ended_pid())
    engine = FakeEngine(existing={"deepinfer-dead": _labels(dead, "deepinfer-dead")})
    folder = _work_folder(tmp_path / "tmp", "orphan", dead)
    monkeypatch.setattr(deepinfer.container, "detect_engine", lambda: engine)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setenv("DEEPINFER_HOME", str(tmp_path / "home"))

    assert run_cli(["cache", "prune", "--dry-run"]) == 0
    listed = capsys.readouterr().err
    assert f"would remove the orphaned container deepinfer-dead (its deepinfer process {dead.pid} has ended)" in listed
    assert f"would remove the orphaned work folder {folder} (its deepinfer process {dead.pid} has ended)" in listed
    assert engine.removed == [] and folder.is_dir()

    assert run_cli(["cache", "prune"]) == 0
    assert "removed the orphaned container deepinfer-dead" in capsys.readouterr().err
    assert engine.removed == ["deepinfer-dead"] and not folder.exists()


# ----------------------------------------------------------------------------------------------- stop signals


def test_sigterm_inside_the_block_raises_signal_exit_with_the_shells_code() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SignalExit) as caught, exit_on_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # not reached: the handler raises at once
    assert caught.value.code == 143 and caught.value.signal_name == "SIGTERM"
    assert isinstance(caught.value, SystemExit)  # ends the process; `except Exception` does not swallow it
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_program_that_handles_sigterm_keeps_its_handler() -> None:
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda number, frame: received.append(number))
    try:
        with exit_on_signals():
            os.kill(os.getpid(), signal.SIGTERM)
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_outside_the_main_thread_nothing_is_installed() -> None:
    seen: list[object] = []

    def probe() -> None:
        with exit_on_signals():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    assert seen == [signal.getsignal(signal.SIGTERM)]


def test_sigterm_during_a_run_removes_the_work_folder_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roots: list[Path] = []

    def terminated(job: ContainerJob, mounts: dict[str, Path]) -> tuple[list[str], int | None]:
        roots.append(mounts["/data/in"].parent)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # not reached: the handler raises at once
        return [], 0

    engine = FakeEngine(terminated)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SignalExit) as caught:
        _run(tmp_path, engine)

    assert caught.value.code == 143
    assert roots and not roots[0].exists() and not list(tmp_path.glob("deepinfer-job-*"))
    name = engine.jobs[0].name
    assert f"stopped by SIGTERM; its container {name} and work folder were removed" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before
