"""Stopping ``deepinfer run`` while its container runs, on the real Docker engine: SIGTERM (what the Slicer module's
Cancel sends first) and Ctrl-C stop and remove the container and delete the work folder; after a SIGKILL,
``deepinfer cache prune`` finds the orphaned container and work folder by their owner and removes them.

The model is the 2017-style test image in its ``sleep`` mode (ten minutes), run by a card file through the CLI in a
subprocess with a private temporary directory, so that its work folder is this test's to look at."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from container_helpers import legacy_image, real_engine, small_volume  # noqa: F401 (fixtures)
from deepinfer.card import dump_card, import_legacy
from deepinfer.container import DockerEngine

DEADLINE_S = 120.0  # for the container to come up (a loaded machine) and for the CLI to end


@dataclass
class Running:
    process: subprocess.Popen[str]
    temp: Path
    env: dict[str, str]

    def containers(self, engine: DockerEngine) -> list[str]:
        """This run's containers (running or not), found by the owner pid label."""
        mine = str(self.process.pid)
        return [name for name, labels in engine.labelled().items() if labels.get("org.deepinfer.pid") == mine]

    def work_folders(self) -> list[Path]:
        return sorted(self.temp.glob("deepinfer-job-*"))


@pytest.fixture
def sleeping_card(legacy_registry: Path, legacy_image: str, tmp_path: Path) -> Path:  # noqa: F811
    """ExampleThreshold.json of the 2017 registry, running the local legacy image in its sleep mode."""
    document = json.loads((legacy_registry / "ExampleThreshold.json").read_text(encoding="utf-8"))
    card, _ = import_legacy(document, "ExampleThreshold.json")
    runtime = card.runtime.model_copy(update={"image": legacy_image, "model_name": "sleep"})
    path = tmp_path / "sleeping.json"
    path.write_text(dump_card(card.model_copy(update={"runtime": runtime})), encoding="utf-8")
    return path


@pytest.fixture
def running(sleeping_card: Path, real_engine: DockerEngine, tmp_path: Path) -> Iterator[Running]:  # noqa: F811
    """``deepinfer run`` of the sleeping card, once its container is up (polled with a deadline)."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "DEEPINFER_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    source = small_volume(tmp_path / "t2.nii.gz")
    argv = [sys.executable, "-m", "deepinfer", "run", str(sleeping_card), "-i", str(source)]
    argv += ["-o", str(tmp_path / "label.nii.gz"), "--progress", "none"]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8")
    run = Running(process, temp, env)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not _running(real_engine, run):
            assert process.poll() is None, f"deepinfer ended early: {process.communicate()}"
            assert time.monotonic() < deadline, "the container did not come up"
            time.sleep(0.2)
        assert len(run.work_folders()) == 1  # the input copy, as the issue saw it
        yield run
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
        for name in run.containers(real_engine):
            real_engine.remove(name)


def _running(engine: DockerEngine, run: Running) -> bool:
    argv = engine.command("ps", "--filter", f"label=org.deepinfer.pid={run.process.pid}", "--format", "{{.Names}}")
    found = subprocess.run(argv, capture_output=True, encoding="utf-8", timeout=60, check=False)
    return bool(found.stdout.strip())


def _stop(run: Running, number: int) -> tuple[int, str, float]:
    """Send ``number``; the exit code, stderr, and how long the CLI took to end."""
    start = time.monotonic()
    run.process.send_signal(number)
    _, stderr = run.process.communicate(timeout=DEADLINE_S)
    return run.process.returncode, stderr, time.monotonic() - start


def test_sigterm_stops_and_removes_the_container_and_the_work_folder(
    running: Running,
    real_engine: DockerEngine,  # noqa: F811
) -> None:
    name = running.containers(real_engine)[0]

    code, stderr, seconds = _stop(running, signal.SIGTERM)

    assert code == 143, stderr
    assert f"stopped by SIGTERM; its container {name} and work folder were removed" in stderr
    assert "Traceback" not in stderr
    assert running.containers(real_engine) == []  # gone at once, not at its 3600 s timeout
    assert running.work_folders() == []  # and the input copy with it
    print(f"SIGTERM to exit: {seconds:.2f} s")


def test_ctrl_c_stops_and_removes_the_container_and_the_work_folder(
    running: Running,
    real_engine: DockerEngine,  # noqa: F811
) -> None:
    code, stderr, seconds = _stop(running, signal.SIGINT)

    assert code != 0, stderr
    assert "stopped by SIGINT" in stderr and "Traceback" not in stderr
    assert running.containers(real_engine) == []
    assert running.work_folders() == []
    print(f"SIGINT to exit: {seconds:.2f} s, exit code {code}")


def test_after_sigkill_cache_prune_removes_the_orphans(
    running: Running,
    real_engine: DockerEngine,  # noqa: F811
) -> None:
    name = running.containers(real_engine)[0]
    folder = running.work_folders()[0]

    running.process.kill()
    running.process.communicate(timeout=DEADLINE_S)
    assert running.containers(real_engine) == [name] and folder.is_dir()  # what a SIGKILL leaves behind

    prune = [sys.executable, "-m", "deepinfer", "cache", "prune"]
    listed = subprocess.run([*prune, "--dry-run"], env=running.env, capture_output=True, encoding="utf-8", timeout=300)
    assert listed.returncode == 0, listed.stderr
    pid = running.process.pid
    assert f"would remove the orphaned container {name} (its deepinfer process {pid} has ended)" in listed.stderr
    assert f"would remove the orphaned work folder {folder} (its deepinfer process {pid} has ended)" in listed.stderr
    assert running.containers(real_engine) == [name] and folder.is_dir()  # a dry run removes nothing

    start = time.monotonic()
    pruned = subprocess.run(prune, env=running.env, capture_output=True, encoding="utf-8", timeout=300)
    seconds = time.monotonic() - start

    assert pruned.returncode == 0, pruned.stderr
    assert f"removed the orphaned container {name}" in pruned.stderr
    assert f"removed the orphaned work folder {folder}" in pruned.stderr
    assert running.containers(real_engine) == [] and not folder.exists()
    print(f"cache prune with one orphan: {seconds:.2f} s")
