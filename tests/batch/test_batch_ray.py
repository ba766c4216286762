"""deepinfer batch --ray on the session's real Ray cluster on loopback (``ray_cluster`` in tests/conftest.py: a
head that runs no actor and two nodes of one CPU each, so that the two actors of a batch run one on each node): the
manifest and masks equal the local batch's, with the inputs read from their paths or shipped through the object
store; a rerun skips; a node added and then lost mid-batch (its raylet killed) has its case retried on another actor
and recorded. The cluster is stopped by its PIDs at the end of the session."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from batch_helpers import manifest_rows, reoriented, tiny_card

from deepinfer.batch import SUCCEEDED, BatchOptions, CaseRecord, find_cases, ray_connection, ray_plan, run_batch
from deepinfer.card import load_card
from deepinfer.cli import run_cli
from ray_cluster import RayCluster, kill_node, wait_for
from realparts import require

FAILED_EXIT = 5


@pytest.fixture
def card_file(tmp_path: Path) -> Path:
    require(importlib.util.find_spec("torch") is not None, "the small TorchScript card needs torch")
    (tmp_path / "card").mkdir()
    return tiny_card(tmp_path / "card")


def batch(card: Path, inputs: Path | str, out: Path, *options: str) -> int:
    """``deepinfer batch`` in a process of its own: Ray's driver (signal handlers, threads) stays out of the test
    session, whose later tests check signal handling."""
    argv = ["batch", str(card), "--inputs", str(inputs), "-o", str(out), "--progress", "none", *options]
    if "--ray" not in options:
        return run_cli(argv)
    done = subprocess.run([sys.executable, "-m", "deepinfer", *argv], capture_output=True, encoding="utf-8")
    sys.stderr.write(done.stderr)
    return done.returncode


def write_copies(image: sitk.Image, paths: list[Path]) -> None:
    """``image`` written once (compressing is the slow part), then copied to the other paths."""
    sitk.WriteImage(image, str(paths[0]))
    for path in paths[1:]:
        shutil.copyfile(paths[0], path)


def mask(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_a_batch_across_two_nodes_equals_the_local_batch(
    ray_cluster: RayCluster, card_file: Path, colin27: Path, deepinfer_home: Path, tmp_path: Path
) -> None:
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    image = sitk.ReadImage(str(colin27))
    sitk.WriteImage(image[40:140, 50:170, 40:140], str(cohort / "ch2.nii.gz"))
    sitk.WriteImage(reoriented(sitk.Cast(image[30:150, 40:180, 30:150], sitk.sitkFloat32)), str(cohort / "las.nrrd"))
    (cohort / "truncated.nii.gz").write_bytes(colin27.read_bytes()[:5000])
    local, on_ray, shipped = tmp_path / "local", tmp_path / "ray", tmp_path / "shipped"
    assert batch(card_file, cohort, local, "--workers", "2") == FAILED_EXIT
    assert batch(card_file, cohort, on_ray, "--ray", ray_cluster.address, "--workers", "2") == FAILED_EXIT
    assert batch(card_file, cohort, shipped, "--ray", ray_cluster.address, "--ship-inputs") == FAILED_EXIT

    expected = manifest_rows(local)
    assert {case: row["status"] for case, row in expected.items()} == {
        "ch2": "succeeded", "las": "succeeded", "truncated": "failed"
    }  # fmt: skip
    for out in (on_ray, shipped):
        rows = manifest_rows(out)
        for case, row in expected.items():
            for column in ("inputs", "status", "outputs", "error", "attempts"):
                assert rows[case][column] == row[column], (out.name, case, column)
        for case in ("ch2", "las"):
            assert np.array_equal(mask(out / case / "Mask.nii.gz"), mask(local / case / "Mask.nii.gz"))
            for sidecar in ("Mask.statistics.json", "Mask.statistics.csv"):
                assert (out / case / sidecar).read_bytes() == (local / case / sidecar).read_bytes()
        assert sorted(p.name for p in out.iterdir()) == ["ch2", "las", "manifest.csv"]
    assert "truncated.nii.gz: the file is truncated" in manifest_rows(shipped)["truncated"]["error"]

    (cohort / "truncated.nii.gz").unlink()  # a rerun on the cluster skips the cases done
    assert batch(card_file, cohort, on_ray, "--ray", ray_cluster.address) == 0
    assert {row["status"] for row in manifest_rows(on_ray).values()} == {"skipped"}


def test_a_case_whose_node_is_lost_is_retried_on_another_actor(
    ray_cluster: RayCluster, card_file: Path, colin27: Path, deepinfer_home: Path, tmp_path: Path
) -> None:
    """A third node joins; when the first case finishes, that node is lost (``kill_node``: its raylet killed by
    PID, then the rest of its processes, its actor's worker among them). The case that actor was running (or was
    given next) runs again on an actor of the other nodes, which the tests after this one use."""
    doomed = ray_cluster.start_node()
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    write_copies(sitk.ReadImage(str(colin27))[40:140, 50:170, 40:140], [cohort / f"case{i}.nii.gz" for i in range(6)])
    card = load_card(card_file)
    cases = find_cases(card, str(cohort)).cases
    with ray_connection():  # this test's process leaves Ray as it found it (later tests check signal handling)
        plan = ray_plan(ray_cluster.address, 3, len(cases), 0, 1)
        assert plan.workers == 3
        finished: list[CaseRecord] = []

        def on_case(record: CaseRecord) -> None:
            if not finished:
                kill_node(ray_cluster, doomed)
            finished.append(record)

        out = tmp_path / "out"
        options = BatchOptions(ray=ray_cluster.address)
        result = run_batch(card, cases, out, None, plan, card_dir=card_file.parent, options=options, on_case=on_case)

    rows = manifest_rows(out)
    assert result.failed == 0 and {row["status"] for row in rows.values()} == {SUCCEEDED}
    retried = {case: row for case, row in rows.items() if row["attempts"] != "1"}
    assert len(retried) >= 1, rows
    for row in retried.values():
        assert row["attempts"] == "2"
        assert row["error"].startswith("retried after: attempt 1: its Ray actor was lost (")
    single = tmp_path / "single.nii.gz"
    assert run_cli(["run", str(card_file), "-i", str(cohort / "case0.nii.gz"), "-o", str(single)]) == 0
    for case in rows:
        assert np.array_equal(mask(out / case / "Mask.nii.gz"), mask(single))


def test_without_ray_installed_ray_says_how_to_install_it(card_file: Path, tmp_path: Path) -> None:
    """In a child process where ``import ray`` fails: one line, exit 2."""
    (tmp_path / "cohort").mkdir()
    shutil.copy(card_file, tmp_path / "cohort" / "x.nii.gz")  # any file: the cohort is read before Ray is asked
    script = (
        "import sys; sys.modules['ray'] = None\n"
        "from deepinfer.cli import run_cli\n"
        f"sys.exit(run_cli(['batch', {str(card_file)!r}, '--inputs', {str(tmp_path / 'cohort')!r}, "
        f"'-o', {str(tmp_path / 'out')!r}, '--ray', 'auto']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, encoding="utf-8", timeout=120)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'deepinfer[ray]'" in lines[0], done.stderr


def test_ctrl_c_stops_the_batch_on_ray_and_its_actors(
    ray_cluster: RayCluster, card_file: Path, colin27: Path, deepinfer_home: Path, tmp_path: Path
) -> None:
    """SIGINT to ``deepinfer batch --ray`` once a case has finished: exit 130, the manifest holds the finished
    cases (each with its files), nothing half-written, and the batch's actors end."""
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    write_copies(
        sitk.ReadImage(str(colin27))[20:160, 30:190, 20:160], [cohort / f"case{i:02d}.nii.gz" for i in range(12)]
    )
    out = tmp_path / "out"
    argv = ["batch", str(card_file), "--inputs", str(cohort), "-o", str(out), "--progress", "json"]
    child = subprocess.Popen(
        [sys.executable, "-m", "deepinfer", *argv, "--ray", ray_cluster.address, "--workers", "2"],
        stderr=subprocess.PIPE, encoding="utf-8", env=dict(os.environ),
    )  # fmt: skip
    assert child.stderr is not None
    for line in child.stderr:  # the first finished case: the others are running or queued
        if line.startswith("{") and json.loads(line).get("event") == "case":
            break
    child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=60)
    except subprocess.TimeoutExpired:
        child.kill()
        pytest.fail("deepinfer batch --ray did not stop within 60 s of Ctrl-C")
    assert child.returncode == 130
    rows = manifest_rows(out)
    assert 1 <= len(rows) < 12 and {row["status"] for row in rows.values()} == {SUCCEEDED}
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    expected = ["manifest.csv"]
    for case in rows:
        expected += [f"{case}/Mask.nii.gz", f"{case}/Mask.provenance.json"]
        expected += [f"{case}/Mask.statistics.csv", f"{case}/Mask.statistics.json"]
    assert written == sorted(expected)
    wait_for(lambda: not ray_cluster.actor_pids("CaseActor"), 30.0, "the batch's actors to end")
