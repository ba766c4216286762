"""``deepinfer card import-nnunet`` for several input channels, an anisotropic grid and region-based labels
with nnU-Net's postprocessing JSON, against ``nnUNetPredictor`` on real held-out images (Colin27).

The results folders hold real nnU-Net checkpoints written by nnU-Net's own trainer after its initialisation
(``nnunet_variants.py``; no training, so the whole module costs seconds): the networks are untrained, but the
pipeline around them (stacking and normalizing the channels each with its scheme, separate-z resampling both
ways, sigmoid and region painting, largest-component postprocessing) is what is compared, voxel by voxel.
nnU-Net keeps its logits in float16, so a logit's last bit may round the other way here: measured (2026-12-03),
probabilities within 2.8e-3, above 1e-3 at 0.07 % of the voxels at most, labels Dice >= 0.99997 (regions
identical). Bounds: 1e-2, 0.2 %, Dice 0.999. A wrong step moves whole regions, far beyond them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from package_helpers import deepinfer

from deepinfer import UsageError
from realparts import need

HERE = Path(__file__).parent
MAX_PROBABILITY_DIFF = 1e-2
PROBABILITY_DIFF = 1e-3
MAX_FRACTION_ABOVE = 2e-3
MIN_DICE = 0.999
VARIANTS = ("channels", "anisotropic", "regions")


@pytest.fixture(scope="session")
def variants(tmp_path_factory: pytest.TempPathFactory, colin27: Path, colin27_brain: Path) -> Path:
    need("nnunetv2", "the nnU-Net variant tests need nnunetv2 (scripts/setup --test)")
    work = tmp_path_factory.mktemp("nnunet-variants")
    done = subprocess.run([sys.executable, str(HERE / "nnunet_variants.py"), str(work)], capture_output=True,
                          encoding="utf-8", timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return work


def dice(ours: np.ndarray, theirs: np.ndarray, label: int) -> float:
    a, b = ours == label, theirs == label
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_imported_card_matches_nnunets_predictor(
    variant: str, variants: Path, tmp_path: Path, deepinfer_home: Path
) -> None:
    sitk = need("SimpleITK")
    from deepinfer.package import import_nnunet_results
    from deepinfer.run import run_model

    folder = variants / variant
    card, card_file = import_nnunet_results(folder / "results", tmp_path / "card")
    images = sorted(folder.glob("image_*.nii.gz"))
    assert len(card.inputs) == len(images)
    probabilities = [o.name for o in card.outputs if o.type == "probability_map"]
    outputs = {name: tmp_path / f"{name}.nii.gz" for name in ["segmentation", *probabilities]}
    inputs = {member.name: image for member, image in zip(card.inputs, images, strict=True)}
    run_model(card, inputs, outputs, {"tta": False}, card_dir=card_file.parent, runtime="onnxruntime")
    theirs = np.load(folder / "theirs.npz")
    ours = sitk.GetArrayFromImage(sitk.ReadImage(str(outputs["segmentation"])))  # SimpleITK's (z, y, x), as nnU-Net
    assert ours.shape == theirs["segmentation"].shape
    # label-based cards write the foreground labels' probabilities (nnU-Net's channel 0 is the background)
    channels = theirs["probabilities"][len(theirs["probabilities"]) - len(probabilities) :]
    for name, expected in zip(probabilities, channels, strict=True):
        got = sitk.GetArrayFromImage(sitk.ReadImage(str(outputs[name])))
        differences = np.abs(got - expected)
        above = (differences > PROBABILITY_DIFF).mean()
        print(f"\n{variant} {name}: max |Δ| {differences.max():.2g}, above {PROBABILITY_DIFF:g}: {above:.2%}")
        assert differences.max() <= MAX_PROBABILITY_DIFF
        assert (differences > PROBABILITY_DIFF).mean() <= MAX_FRACTION_ABOVE
    for label in sorted(set(np.unique(theirs["segmentation"])) - {0}):
        share = (theirs["segmentation"] == label).mean()
        score = dice(ours, theirs["segmentation"], int(label))
        print(f"{variant} label {label}: {share:.1%} of voxels, Dice {score:.5f}")
        assert 0.01 < share < 0.99, f"label {label} covers {share:.1%}: the comparison would be trivial"
        assert score >= MIN_DICE
    np.testing.assert_array_equal(np.unique(ours), np.unique(theirs["segmentation"]))


def test_the_importer_records_an_example_that_card_test_passes(
    variants: Path, tmp_path: Path, shared_home: Path, deepinfer_home: Path
) -> None:
    """``--example`` once per channel: the card's own outputs for them become its example, and ``deepinfer card
    test`` passes on the written card (labels by Dice, probabilities by the largest difference)."""
    from deepinfer.package import import_nnunet_results

    folder = variants / "channels"
    images = [str(image) for image in sorted(folder.glob("image_*.nii.gz"))]
    card_dir = tmp_path / "card"
    examples = [item for image in images for item in ("--example", image)]
    done = deepinfer("card", "import-nnunet", str(folder / "results"), "-o", str(card_dir), *examples,
                     home=shared_home)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "deepinfer card test" in done.stderr
    card = json.loads((card_dir / "card.json").read_text(encoding="utf-8"))
    (example,) = card["examples"]
    assert list(example["inputs"]) == [member["name"] for member in card["inputs"]] == ["T1", "brain_T1"]
    assert set(example["expected"]) == {output["name"] for output in card["outputs"]}
    assert sorted(p.name for p in (card_dir / "examples").iterdir()) == [
        "T1.nii.gz", "brain_T1.nii.gz", "expected_probability_brain.nii.gz", "expected_segmentation.nii.gz"
    ]  # fmt: skip
    tested = deepinfer("card", "test", str(card_dir / "card.json"), home=shared_home)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    with pytest.raises(UsageError, match=r"one image per input channel \(T1, brain T1\)"):
        import_nnunet_results(folder / "results", tmp_path / "other", examples=[Path(images[0])])
    assert not (tmp_path / "other").exists()
