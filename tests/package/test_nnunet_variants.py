"""``deepinfer card import-nnunet`` for several input channels, an anisotropic grid and region-based labels
with nnU-Net's postprocessing JSON, against ``nnUNetPredictor`` on real held-out images (Colin27).

The results folders hold real nnU-Net checkpoints written by nnU-Net's own trainer after its initialisation
(``nnunet_variants.py``; no training, so the whole module costs seconds): the networks are untrained, but the
pipeline around them (stacking and normalizing the channels each with its scheme, separate-z resampling both
ways, sigmoid and region painting, largest-component postprocessing) is what is compared, voxel by voxel.
nnU-Net keeps its logits in float16 and sums the windows' in float16, so the card visits the windows, sums the
mirrored predictions and resamples in nnU-Net's axis order. Run with nnU-Net's own torch networks, the card's
pipeline gives nnU-Net's probabilities to float32 rounding (measured 2026-12-03: 1.2e-7; bound 1e-6). With its
ONNX files, ONNX Runtime's float32 arithmetic (network alone, same real windows: 1.5e-5 to 4.4e-5 on logits up
to 54; bound 1e-4) moves a float16 rounding by one step at 0.25-0.33 % of the voxels: probabilities within
2.0e-4 to 9.4e-4, labels identical. Bound 2e-3, as ``test_nnunet_parity`` explains (a training there gave 1.1e-3),
and Dice 0.999. A wrong step moves whole regions, far beyond them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from nnunet_engines import network_difference, recording, run_pipeline, torch_networks
from package_helpers import deepinfer

from deepinfer import UsageError
from realparts import need

HERE = Path(__file__).parent
MAX_PROBABILITY_DIFF = 2e-3  # the card with ONNX Runtime: one float16 step of two logits
MAX_PIPELINE_DIFF = 1e-6  # the card's pipeline with nnU-Net's torch networks: float32 rounding
MAX_NETWORK_DIFF = 1e-4  # ONNX Runtime against torch, the network alone on the same windows
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
    windows: list[np.ndarray] = []
    networks = {name: recording(network, windows) for name, network in torch_networks(folder / "results", "0").items()}
    pipeline = run_pipeline(card, images, networks, {"tta": False})
    np.testing.assert_array_equal(pipeline["segmentation"], theirs["segmentation"])
    for name, expected in zip(probabilities, channels, strict=True):
        got = sitk.GetArrayFromImage(sitk.ReadImage(str(outputs[name])))
        difference = float(np.abs(got - expected).max())
        alone = float(np.abs(pipeline[name] - expected).max())
        print(f"\n{variant} {name}: max |Δ| {difference:.2g} (ONNX Runtime), {alone:.2g} (nnU-Net's torch networks)")
        assert alone <= MAX_PIPELINE_DIFF
        assert difference <= MAX_PROBABILITY_DIFF
    engines = network_difference(card_file.parent, networks, windows)
    print(f"{variant}: the network alone, ONNX Runtime against torch on {len(windows)} real windows: {engines:.2g}")
    assert engines <= MAX_NETWORK_DIFF
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
