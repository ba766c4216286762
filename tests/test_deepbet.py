"""deepbet brain extraction as a declarative card: parity with deepbet's own code, accuracy against real
references, exact output geometry (also for a reoriented, resampled copy), the ONNX export command, the demo.

Real parts: deepbet's TorchScript weights (read out of the deepbet 1.0.2 wheel by the artifact store), Colin27
with skull and its ch2bet brain (Debian mricron-data), the MNI152 2009a template (a member of the nilearn
0.14.1 wheel). deepbet's own pipeline runs once per session, with the same verified weight files.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import SimpleITK as sitk

from deepinfer._exceptions import FetchError
from deepinfer._metrics import dice
from deepinfer.card import ModelCard, load_card, read_card_json, validate_card
from deepinfer.cli import run_cli
from deepinfer.imaging import read_volume
from deepinfer.package import _export_card
from deepinfer.package._card_test import METRIC_TOLERANCE, stated_metric_checks
from deepinfer.run import RunResult, run_model
from deepinfer.store import ArtifactStore, sha256_file
from realparts import require
from tiny_networks import tiny_torchscript_card

pytestmark = pytest.mark.slow

CARD_ID = "brain-extraction-deepbet"
MIN_PARITY_DICE = 0.999
MIN_COLIN27_DICE = 0.93
MIN_MNI152_DICE = 0.97
MIN_REORIENTED_DICE = 0.92
MNI152_BRAIN_FRACTION = 0.2  # nilearn's brain mask of this template: voxels above 0.2 · max
REORIENTED_CODE = "LAS"
REORIENTED_SPACING = 1.2  # mm

BoolArray = npt.NDArray[np.bool_]


@pytest.fixture(scope="session")
def card() -> ModelCard:
    card_file = importlib.resources.files("deepinfer") / "_registry" / "cards" / f"{CARD_ID}.json"
    with importlib.resources.as_file(card_file) as path:
        return load_card(path)


@pytest.fixture(scope="session")
def store(shared_home: Path) -> ArtifactStore:
    return ArtifactStore(shared_home)


def fetched(store: ArtifactStore, card: ModelCard, name: str, what: str) -> Path:
    try:
        return store.fetch(card.artifact(name))
    except FetchError as error:
        require(False, f"{what}: {error}")
        raise


@pytest.fixture(scope="session")
def weights(card: ModelCard, store: ArtifactStore) -> dict[str, Path]:
    """deepbet's two TorchScript files from the deepbet 1.0.2 wheel, sha256-checked by the store."""
    require(importlib.util.find_spec("torch") is not None, "the deepbet card runs on torch (deepinfer[torch])")
    return {name: fetched(store, card, name, "deepbet's weights come from PyPI") for name in ("bbox", "model")}


@pytest.fixture(scope="session")
def mni152(card: ModelCard, store: ArtifactStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The card's second example: the MNI152 template out of the nilearn wheel, under a NIfTI name."""
    cached = fetched(store, card, "mni152_t1", "the MNI152 template comes from PyPI (nilearn)")
    path = tmp_path_factory.mktemp("mni152") / "mni152.nii.gz"
    shutil.copyfile(cached, path)
    return path


def extract(card: ModelCard, store: ArtifactStore, source: Path, target: Path) -> RunResult:
    return run_model(card, {"T1": source}, {"BrainMask": target}, store=store, report=True)


def brain(result: RunResult) -> BoolArray:
    return np.asarray(result.volumes["BrainMask"].array) > 0


def assert_same_grid(written: Path, source: Path) -> None:
    """The output file's geometry is the input file's, exactly (as SimpleITK reads both)."""
    headers = []
    for path in (written, source):
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        headers.append((reader.GetSize(), reader.GetOrigin(), reader.GetSpacing(), reader.GetDirection()))
    assert headers[0] == headers[1]


@pytest.fixture(scope="session")
def colin27_result(
    card: ModelCard,
    store: ArtifactStore,
    weights: dict[str, Path],
    colin27: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> RunResult:
    return extract(card, store, colin27, tmp_path_factory.mktemp("colin27") / "ch2_brain.nii.gz")


@pytest.fixture(scope="session")
def deepbet_mask(weights: dict[str, Path], colin27: Path) -> BoolArray:
    """deepbet's own ``BrainExtraction().run`` on Colin27, with the weight files deepinfer verified."""
    require(importlib.util.find_spec("deepbet") is not None, "the reference needs deepbet==1.0.2 (--no-deps)")
    from deepbet.bet import BrainExtraction

    extraction = BrainExtraction(no_gpu=True, model_path=str(weights["model"]), bbox_model_path=str(weights["bbox"]))
    _, mask, _ = extraction.run(str(colin27))
    return np.asarray(mask.dataobj) > 0


def stated(card: ModelCard, reference: str) -> float:
    """The Dice the card states against ``reference`` (a words of its metric's ``reference``)."""
    (metric,) = [m for m in card.metrics if m.reference and reference in m.reference]
    return metric.value


def test_mask_matches_deepbets_own_pipeline(
    card: ModelCard, colin27_result: RunResult, deepbet_mask: BoolArray
) -> None:
    ours = brain(colin27_result)
    overlap = dice(ours, deepbet_mask)
    print(f"\ndeepbet parity on Colin27: Dice {overlap:.6f}, {int(ours.sum())} / {int(deepbet_mask.sum())} voxels")
    assert overlap >= MIN_PARITY_DICE
    assert abs(overlap - stated(card, "deepbet 1.0.2's own pipeline")) <= METRIC_TOLERANCE


def test_colin27_mask_matches_ch2bet(card: ModelCard, colin27_result: RunResult, colin27_brain: Path) -> None:
    reference = np.asarray(read_volume(colin27_brain).array) > 0
    overlap = dice(brain(colin27_result), reference)
    print(f"\nColin27 vs ch2bet: Dice {overlap:.4f}")
    assert overlap >= MIN_COLIN27_DICE
    assert abs(overlap - stated(card, "ch2bet")) <= METRIC_TOLERANCE


def test_colin27_result_lies_on_the_input_grid_with_a_picture(colin27_result: RunResult, colin27: Path) -> None:
    written = colin27_result.outputs["BrainMask"]
    assert_same_grid(written, colin27)
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(written)))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert colin27_result.report is not None and colin27_result.report.stat().st_size > 10_000


def test_mni152_template_matches_its_brain_mask(
    card: ModelCard, store: ArtifactStore, weights: dict[str, Path], mni152: Path, tmp_path: Path
) -> None:
    result = extract(card, store, mni152, tmp_path / "mni152_brain.nii.gz")
    template = read_volume(mni152).array.astype(np.float32)
    reference = template > MNI152_BRAIN_FRACTION * template.max()
    overlap = dice(brain(result), reference)
    print(f"\nMNI152 vs template > {MNI152_BRAIN_FRACTION} max: Dice {overlap:.4f}")
    assert overlap >= MIN_MNI152_DICE
    assert abs(overlap - stated(card, "20 % of its maximum")) <= METRIC_TOLERANCE
    assert_same_grid(result.outputs["BrainMask"], mni152)


def reoriented(image: Any, interpolator: int) -> Any:
    """``image`` flipped to LAS and resampled to 1.2 mm over the same field of view (centred)."""
    flipped = sitk.DICOMOrient(image, REORIENTED_CODE)
    old_size = np.asarray(flipped.GetSize())
    size = np.round(old_size * np.asarray(flipped.GetSpacing()) / REORIENTED_SPACING).astype(int)
    centre = np.asarray(flipped.TransformContinuousIndexToPhysicalPoint(((old_size - 1) / 2).tolist()))
    direction = np.asarray(flipped.GetDirection()).reshape(3, 3)
    origin = centre - direction @ (REORIENTED_SPACING * (size - 1) / 2)
    return sitk.Resample(
        flipped, size.tolist(), sitk.Transform(), interpolator, origin.tolist(), [REORIENTED_SPACING] * 3,
        flipped.GetDirection(), 0.0, flipped.GetPixelID(),
    )  # fmt: skip


def test_a_reoriented_resampled_copy_keeps_its_grid_and_finds_the_brain(
    card: ModelCard, store: ArtifactStore, weights: dict[str, Path], colin27: Path, colin27_brain: Path, tmp_path: Path
) -> None:
    source = tmp_path / "ch2_las_1.2mm.nii.gz"
    sitk.WriteImage(reoriented(sitk.ReadImage(str(colin27), sitk.sitkFloat32), sitk.sitkLinear), str(source))
    reference_image = sitk.Cast(sitk.ReadImage(str(colin27_brain)) > 0, sitk.sitkUInt8)
    reference = sitk.GetArrayFromImage(reoriented(reference_image, sitk.sitkNearestNeighbor)).T > 0
    result = extract(card, store, source, tmp_path / "ch2_las_brain.nii.gz")
    assert_same_grid(result.outputs["BrainMask"], source)
    assert sitk.ReadImage(str(source)).GetSpacing() == pytest.approx((REORIENTED_SPACING,) * 3)
    overlap = dice(brain(result), reference)
    print(f"\nColin27 {REORIENTED_CODE} {REORIENTED_SPACING} mm vs equally transformed ch2bet: Dice {overlap:.4f}")
    assert overlap >= MIN_REORIENTED_DICE


# ------------------------------------------------------------------------------------- deepinfer card export-onnx


def test_export_onnx_writes_a_card_whose_masks_agree(
    deepinfer_home: Path, weights: dict[str, Path], colin27: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "deepbet-onnx"
    assert run_cli(["card", "export-onnx", CARD_ID, "-o", str(target)]) == 0
    out = capsys.readouterr().out
    card_file = target / f"{CARD_ID}-onnx.json"
    assert validate_card(read_card_json(card_file)) == []
    converted = load_card(card_file)
    assert converted.runtime.type == "onnx"
    store = ArtifactStore(deepinfer_home)
    for name in ("bbox", "model"):
        artifact = converted.artifact(name)
        assert artifact.source.kind == "file" and artifact.source.path == f"{name}.onnx"
        assert artifact.sha256 == sha256_file(target / f"{name}.onnx")
        assert artifact.size == (target / f"{name}.onnx").stat().st_size
        store.fetch(artifact, base_dir=target)  # verified like any card's artifact
    score = float(re.search(r"Dice BrainMask:brain\s*│\s*([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    assert score >= _export_card.MIN_DICE
    assert any("export-onnx" in note for note in converted.notes)


def test_export_onnx_refuses_to_write_when_the_masks_disagree(
    deepinfer_home: Path,
    weights: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    card_file = tiny_torchscript_card(tmp_path)
    image = tmp_path / "noise.nii.gz"
    noise = np.random.default_rng(0).normal(size=(12, 10, 8)).astype(np.float32)
    sitk.WriteImage(sitk.GetImageFromArray(noise), str(image))
    before = sorted(tmp_path.iterdir())
    monkeypatch.setattr(_export_card, "MIN_DICE", 1.01)  # even identical masks (Dice 1) fall short
    target = tmp_path / "tiny-onnx"
    code = run_cli(["card", "export-onnx", str(card_file), "-i", str(image), "-o", str(target)])
    err = capsys.readouterr().err
    assert code == 1 and "disagree with TorchScript" in err and "Mask:x 1.00000" in err
    assert sorted(tmp_path.iterdir()) == before  # no card, no ONNX file, no staging folder left behind

    monkeypatch.setattr(_export_card, "MIN_DICE", 0.999)
    assert run_cli(["card", "export-onnx", str(card_file), "-i", str(image), "-o", str(target)]) == 0
    assert sorted(p.name for p in target.iterdir()) == ["net.onnx", "tiny-onnx.json"]


def test_export_onnx_refuses_a_card_that_is_not_torchscript(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["card", "export-onnx", "prostate-taps", "-o", str(tmp_path / "out")]) == 2
    assert "only torchscript cards" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------- demo and pull


def test_demo_extracts_the_brain_of_colin27(
    deepinfer_home: Path, weights: dict[str, Path], colin27: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["demo", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "colin27: ch2.nii.gz" in out
    score = float(re.search(r"Dice vs reference\s*│\s*([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    assert score >= MIN_COLIN27_DICE
    assert (tmp_path / "ch2_brain-extraction-deepbet.report.png").is_file()
    assert_same_grid(tmp_path / "ch2_brain-extraction-deepbet.nii.gz", colin27)


def test_pull_examples_fetches_the_sample_data(
    deepinfer_home: Path, weights: dict[str, Path], mni152: Path, colin27: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["pull", CARD_ID, "--examples", "--progress", "none"]) == 0
    assert "5 artifact(s)" in capsys.readouterr().err


# ------------------------------------------------------------------------------ runtimes and precision modes


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
def test_an_onnx_runtime_through_the_local_conversion_keeps_parity(
    card: ModelCard,
    store: ArtifactStore,
    weights: dict[str, Path],
    colin27: Path,
    deepbet_mask: BoolArray,
    tmp_path: Path,
    runtime: str,
) -> None:
    """The TorchScript card on OpenVINO / ONNX Runtime (converted once, verified) still matches deepbet's mask."""
    require(importlib.util.find_spec(runtime) is not None, f"{runtime} is a dependency")
    result = run_model(card, {"T1": colin27}, {"BrainMask": tmp_path / "mask.nii.gz"}, store=store, runtime=runtime)
    overlap = dice(brain(result), deepbet_mask)
    networks = result.provenance["runtime"]["networks"]
    print(f"\ndeepbet parity on Colin27 with {runtime}: Dice {overlap:.6f}, {networks}")
    assert {entry["runtime"] for entry in networks.values()} == {runtime}
    assert overlap >= MIN_PARITY_DICE


def test_card_test_checks_fast_mode_against_exact_mode(
    deepinfer_home: Path, weights: dict[str, Path], mni152: Path, colin27: Path
) -> None:
    require(importlib.util.find_spec("openvino") is not None, "fast mode runs on openvino (a dependency)")
    from deepinfer.package import check_fast_mode
    from deepinfer.registry import default_registry

    card = default_registry().get(CARD_ID)
    assert card.precision.fast is not None
    checks = check_fast_mode(card, None, ArtifactStore(deepinfer_home))
    assert [(c.example, c.output, c.metric) for c in checks] == [
        ("colin27", "BrainMask", "fast vs exact dice"),
        ("mni152", "BrainMask", "fast vs exact dice"),
    ]
    for check in checks:
        print(f"\n{check.example}: fast vs exact Dice {check.value:.5f} (≥ {check.limit})")
        assert check.passed and check.limit == card.precision.fast.min_dice


def test_card_test_recomputes_the_stated_metric_from_the_example(
    deepinfer_home: Path, weights: dict[str, Path], colin27: Path
) -> None:
    from deepinfer.package import check_examples
    from deepinfer.registry import default_registry

    card = default_registry().get(CARD_ID)
    checks = check_examples(card, None, ArtifactStore(deepinfer_home))
    assert [(c.example, c.metric) for c in checks] == [("colin27", "dice"), ("colin27", "card metric Dice")]
    dice_check, stated_check = checks
    assert stated_check.value == dice_check.value and stated_check.limit == stated(card, "ch2bet")
    assert stated_check.passed, stated_check.message
    drifted = card.model_copy(
        update={"metrics": [m.model_copy(update={"value": 0.99}) if m.example else m for m in card.metrics]}
    )
    (check,) = stated_metric_checks(drifted, card.examples[0], [dice_check])
    assert not check.passed and "the card states 0.99" in check.message
