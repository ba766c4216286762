"""An imported MONAI bundle works like any other card in a batch: imported with ``card import-monai``, published
with ``registry build`` into a directory registry, added with ``registry add``, then run by its registry id over
a cohort of two real volumes (Colin27 with skull, and its skull-stripped ch2bet); each case's labelmap equals
``deepinfer run`` on that volume, voxel for voxel. A multi-modal bundle's card (two inputs) runs from a CSV
cohort (one column per input) as ``deepinfer run`` does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from batch_helpers import manifest_rows

from deepinfer.cli import run_cli
from monai_bundles import IMPORTED_ID, colin27_block, inverted_contrast, monai_registry_home, two_channel_bundle
from realparts import need


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A home whose configured registry holds the imported card, and the cohort folder."""
    need("monai.bundle", "the bundle is made with MONAI's tooling")
    work = tmp_path_factory.mktemp("imported-batch")
    cohort = work / "cohort"
    cohort.mkdir()
    colin27_block(cohort / "skull.nii.gz")
    colin27_block(cohort / "brain.nii.gz", brain_only=True)
    home = monai_registry_home(work, cohort / "skull.nii.gz")
    return home, cohort


def labels(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_the_published_card_runs_as_a_batch_like_single_runs(
    published: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, cohort = published
    monkeypatch.setenv("DEEPINFER_HOME", str(home))
    out = tmp_path / "out"
    argv = ["batch", IMPORTED_ID, "--inputs", str(cohort), "-o", str(out), "--workers", "1", "--progress", "none"]
    assert run_cli(argv) == 0
    rows = manifest_rows(out)
    assert {case: row["status"] for case, row in rows.items()} == {"skull": "succeeded", "brain": "succeeded"}
    for case, row in rows.items():
        written = dict(item.split("=", 1) for item in row["outputs"].split(";"))
        assert list(written) == ["segmentation"]
        single = tmp_path / f"{case}-single.nii.gz"
        assert run_cli(["run", IMPORTED_ID, "-i", str(cohort / f"{case}.nii.gz"), "-o", str(single),
                        "--progress", "none"]) == 0  # fmt: skip
        batch = labels(out / written["segmentation"])
        assert np.array_equal(batch, labels(single)), case
        assert set(np.unique(batch)) == {0, 1, 2}, case


def test_a_two_input_card_runs_from_a_csv_cohort(tmp_path: Path, deepinfer_home: Path) -> None:
    need("monai.networks.nets", "the bundle's network is MONAI's UNet")
    images = {"t1": colin27_block(tmp_path / "t1.nii.gz")}
    images["t2"] = inverted_contrast(images["t1"], tmp_path / "t2.nii.gz")
    bundle = two_channel_bundle(tmp_path, images)
    card = tmp_path / "card" / "card.json"
    assert run_cli(["card", "import-monai", str(bundle), "-o", str(card.parent)]) == 0
    (tmp_path / "cohort.csv").write_text("case_id,t1,t2\ncolin,t1.nii.gz,t2.nii.gz\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = ["batch", str(card), "--inputs", str(tmp_path / "cohort.csv"), "-o", str(out), "--progress", "none"]
    assert run_cli(argv) == 0
    row = manifest_rows(out)["colin"]
    assert row["status"] == "succeeded", row
    single = tmp_path / "single.nii.gz"
    assert run_cli(["run", str(card), "-i", f"t1={images['t1']}", "-i", f"t2={images['t2']}", "-o", str(single),
                    "--progress", "none"]) == 0  # fmt: skip
    written = dict(item.split("=", 1) for item in row["outputs"].split(";"))
    assert np.array_equal(labels(out / written["segmentation"]), labels(single))
    assert set(np.unique(labels(single))) == {0, 1, 2}
