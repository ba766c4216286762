"""Parity with MONAI's own bundle run: a bundle made with MONAI's tooling (a small UNet, the model zoo's config
shape, the transforms the importer maps: Orientationd, Spacingd, ScaleIntensityRanged, CropForegroundd,
NormalizeIntensityd, a Gaussian SlidingWindowInferer, Activationsd, Invertd, AsDiscreted,
KeepLargestConnectedComponentd) is run by ``monai.bundle.run`` on a real T1 (Colin27) and, imported, by
``deepinfer run``.

Measured here: the labels agree voxel for voxel and the probabilities within 1e-7. The bounds below leave room
for another machine's float32 arithmetic only: MONAI interpolates with torch, deepinfer with SimpleITK, so the last
bits of a probability may differ and flip a voxel where two classes tie."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from package_helpers import deepinfer

from monai_bundles import LABELS, PROBABILITIES, colin27_block, monai_output, parity_bundle, run_monai_bundle
from realparts import need

MAX_PROBABILITY_DIFF = 1e-5
MAX_LABEL_MISMATCHES = 10  # voxels of 252,000


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return colin27_block(tmp_path_factory.mktemp("t1") / "t1.nii.gz")


def dice(ours: np.ndarray, theirs: np.ndarray, label: int) -> float:
    a, b = ours == label, theirs == label
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def test_labels_match_monai_and_card_test_checks_them(image: Path, tmp_path: Path, shared_home: Path) -> None:
    bundle = parity_bundle(tmp_path, image, LABELS)
    run_monai_bundle(bundle)
    (expected,) = sorted((tmp_path / "monai").glob("*.nii.gz"))
    card_dir = tmp_path / "card"
    imported = deepinfer("card", "import-monai", str(bundle), "-o", str(card_dir), "--example", str(image),
                         "--expected", str(expected), home=shared_home)  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    card_file = card_dir / "card.json"
    assert deepinfer("card", "validate", str(card_file), home=shared_home).returncode == 0
    tested = deepinfer("card", "test", str(card_file), home=shared_home)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    ran = deepinfer("run", str(card_file), "-i", str(image), "-o", str(tmp_path / "seg.nii.gz"), "--progress", "none",
                    home=shared_home)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    nibabel = need("nibabel")
    ours = np.asarray(nibabel.load(str(tmp_path / "seg.nii.gz")).dataobj)
    theirs = monai_output(tmp_path)
    assert ours.shape == theirs.shape
    mismatches = int((ours != theirs).sum())
    print(f"\nMONAI parity, labels: {mismatches} of {ours.size} voxels differ")
    assert mismatches <= MAX_LABEL_MISMATCHES
    assert {int(v) for v in np.unique(theirs)} == {0, 1, 2}, "the network's output is not trivial"
    assert min(dice(ours, theirs, label) for label in (1, 2)) >= 0.999
    np.testing.assert_allclose(nibabel.load(str(tmp_path / "seg.nii.gz")).affine, nibabel.load(str(expected)).affine)


def test_probabilities_match_monai(image: Path, tmp_path: Path, shared_home: Path) -> None:
    bundle = parity_bundle(tmp_path, image, PROBABILITIES)
    run_monai_bundle(bundle)
    imported = deepinfer("card", "import-monai", str(bundle), "-o", str(tmp_path / "card"), home=shared_home)
    assert imported.returncode == 0, imported.stderr
    target = tmp_path / "p.nii.gz"
    ran = deepinfer("run", str(tmp_path / "card" / "card.json"), "-i", str(image), "-o", str(target),
                    "--progress", "none", home=shared_home)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    nibabel = need("nibabel")
    theirs = monai_output(tmp_path)  # x, y, z, channel
    channels = {1: target, 2: tmp_path / "p.probability_part_two.nii.gz"}
    worst = max(
        float(np.abs(np.asarray(nibabel.load(str(path)).dataobj) - theirs[..., channel]).max())
        for channel, path in channels.items()
    )
    print(f"\nMONAI parity, probabilities: max |Δ| = {worst:.2e}")
    assert worst <= MAX_PROBABILITY_DIFF
