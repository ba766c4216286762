"""Parity with TAPS' own inference code (lavlab-taps 1.1.2 on MONAI) on a real MR volume.

No prostate MRI ships in any reachable package, and the TAPS network finds nothing in a T1 brain. The input is
therefore Colin27 (real MR voxels) with its intensities inverted, a T2-like contrast where fluid is bright,
and a smaller declared voxel size, so that the network responds. The input is only a parity probe: the mask
is not a prostate. TAPS runs once per session (MONAI's preprocessing, sliding window, Gaussian blur of the
logits, Invertd), keeping its probability map before the threshold.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import SimpleITK as sitk

from deepinfer._exceptions import FetchError
from deepinfer.card import ModelCard, load_card
from deepinfer.imaging import Volume, read_volume, volume_from_sitk, volume_to_sitk
from deepinfer.package._card_test import METRIC_TOLERANCE
from deepinfer.pipeline import Pipeline
from deepinfer.runners import NetworkCache
from deepinfer.store import ArtifactStore
from realparts import require, write_t2_like

pytestmark = pytest.mark.slow

MAX_PROBABILITY_DIFFERENCE = 1e-3
MIN_DICE = 0.999
REORIENTED = "PIR"  # axes permuted and flipped relative to the stored (LPS-flipped, RAS) Colin27 grid


@pytest.fixture(scope="session")
def taps_card() -> ModelCard:
    card_file = importlib.resources.files("deepinfer") / "_registry" / "cards" / "prostate-taps.json"
    with importlib.resources.as_file(card_file) as path:
        return load_card(path)


@pytest.fixture(scope="session")
def taps_model(taps_card: ModelCard, shared_home: Path) -> Path:
    """The ONNX file of the lavlab-taps 1.1.2 wheel, fetched and sha256-checked by the artifact store."""
    try:
        return ArtifactStore(shared_home).fetch(taps_card.artifact("model"))
    except FetchError as error:
        require(False, f"the TAPS weights come from PyPI (lavlab-taps==1.1.2): {error}")
        raise


@pytest.fixture(scope="session")
def t2_like(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_t2_like(colin27, tmp_path_factory.mktemp("taps") / "t2_like.nii.gz")


@dataclass
class Result:
    probability: npt.NDArray[np.float32]
    mask: npt.NDArray[np.uint8]
    seconds: float
    windows: int = 0
    outputs: dict[str, Volume] = field(default_factory=dict)


@pytest.fixture(scope="session")
def taps_reference(t2_like: Path, taps_model: Path) -> Result:
    """``taps.inference.segment`` step for step, keeping the sigmoid probability map before the threshold."""
    for module in ("taps", "monai", "torch"):
        require(importlib.util.find_spec(module) is not None, f"the TAPS reference needs {module} (test extras)")
    import torch
    from monai.inferers.utils import sliding_window_inference
    from monai.transforms.post.dictionary import Invertd
    from taps import inference as taps

    warnings.filterwarnings("ignore", category=FutureWarning, module="monai")
    start = time.perf_counter()
    preprocess = taps.build_preprocessing()
    data = preprocess({"image": str(t2_like)})
    model = taps.ONNXPredictor(taps_model, device="cpu")
    with torch.inference_mode():
        logits = sliding_window_inference(
            data["image"].unsqueeze(0), roi_size=taps.ROI_SIZE, sw_batch_size=1, predictor=model, overlap=0.5,
            mode="gaussian",
        )  # fmt: skip
    assert isinstance(logits, torch.Tensor)
    data["pred"] = taps.gaussian_blur_logits(logits, sigma=taps.DEFAULT_SIGMA)[0]
    inverted = Invertd(
        keys="pred", transform=preprocess, orig_keys="image", meta_keys="pred_meta_dict",
        orig_meta_keys="image_meta_dict", nearest_interp=False, to_tensor=True,
    )(data)  # fmt: skip
    probability = torch.sigmoid(inverted["pred"][0]).numpy()
    mask, _ = taps._largest_component((probability > taps.DEFAULT_PROBABILITY_THRESHOLD).astype(np.uint8))
    return Result(probability, mask.astype(np.uint8), time.perf_counter() - start)


def run_deepinfer(
    card: ModelCard, model: Path, volume: Volume, runtime: str | None = None, precision: str = "exact"
) -> Result:
    """The card's pipeline on ``volume``; ``runtime`` None: ONNX Runtime (the card's own), as TAPS runs it."""
    events: list[tuple[str, int, int]] = []
    start = time.perf_counter()
    networks = NetworkCache("onnx", {"model": model}.__getitem__, runtime=runtime, precision=precision)
    outputs = Pipeline.from_card(card).run(volume, networks, lambda *event: events.append(event))
    seconds = time.perf_counter() - start
    windows = [total for task, done, total in events if task == "sliding window"]
    return Result(
        outputs["ProstateProbability"].array.astype(np.float32),
        outputs["ProstateMask"].array.astype(np.uint8),
        seconds,
        windows[-1] if windows else 0,
        outputs,
    )


@pytest.fixture(scope="session")
def deepinfer_result(taps_card: ModelCard, taps_model: Path, t2_like: Path) -> Result:
    return run_deepinfer(taps_card, taps_model, read_volume(t2_like))


def dice(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    a_, b_ = a.astype(bool), b.astype(bool)
    return float(2 * (a_ & b_).sum() / (a_.sum() + b_.sum()))


def assert_parity(ours: Result, reference: Result, label: str) -> None:
    assert ours.probability.shape == reference.probability.shape
    difference = float(np.abs(ours.probability - reference.probability).max())
    overlap = dice(ours.mask, reference.mask)
    print(
        f"\n{label}: max |Δprob| {difference:.2e}, Dice {overlap:.6f}, mask voxels {int(ours.mask.sum())} / "
        f"{int(reference.mask.sum())}, windows {ours.windows}, deepinfer {ours.seconds:.1f} s, "
        f"TAPS {reference.seconds:.1f} s"
    )
    assert ours.mask.any() and reference.mask.any()
    assert difference <= MAX_PROBABILITY_DIFFERENCE
    assert overlap >= MIN_DICE


def test_probability_and_mask_match_taps(
    taps_card: ModelCard, deepinfer_result: Result, taps_reference: Result
) -> None:
    assert 1 <= deepinfer_result.windows <= 4
    assert_parity(deepinfer_result, taps_reference, "TAPS parity")
    (stated,) = [m for m in taps_card.metrics if m.reference and "TAPS' own pipeline" in m.reference]
    assert abs(dice(deepinfer_result.mask, taps_reference.mask) - stated.value) <= METRIC_TOLERANCE


def test_outputs_lie_exactly_on_the_input_grid(deepinfer_result: Result, t2_like: Path) -> None:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(t2_like))
    reader.ReadImageInformation()
    for output in deepinfer_result.outputs.values():
        geometry = output.geometry
        assert geometry.size == reader.GetSize()
        assert geometry.origin == reader.GetOrigin()
        assert geometry.spacing == reader.GetSpacing()
        assert geometry.direction == reader.GetDirection()
    assert deepinfer_result.outputs["ProstateMask"].array.dtype == np.uint8
    assert deepinfer_result.outputs["ProstateProbability"].array.dtype == np.float32


def reoriented(volume: Volume, code: str) -> Volume:
    return volume_from_sitk(sitk.DICOMOrient(volume_to_sitk(volume), code))


def test_a_reoriented_copy_gives_the_same_result_on_its_own_grid(
    taps_card: ModelCard, taps_model: Path, t2_like: Path, taps_reference: Result
) -> None:
    source = read_volume(t2_like)
    copy = reoriented(source, REORIENTED)
    assert copy.array.shape != source.array.shape
    ours = run_deepinfer(taps_card, taps_model, copy)
    for output in ours.outputs.values():
        assert output.geometry == copy.geometry
    expected = Result(
        np.asarray(reoriented(source.with_array(taps_reference.probability), REORIENTED).array, np.float32),
        np.asarray(reoriented(source.with_array(taps_reference.mask), REORIENTED).array, np.uint8),
        taps_reference.seconds,
    )
    assert_parity(ours, expected, f"TAPS parity, input reoriented to {REORIENTED}")


# ------------------------------------------------------------------------- other runtimes, fast precision


@pytest.fixture(scope="session")
def openvino_available() -> None:
    require(importlib.util.find_spec("openvino") is not None, "the OpenVINO runtime needs openvino (a dependency)")


def test_openvino_exact_keeps_parity_with_taps(
    openvino_available: None, taps_card: ModelCard, taps_model: Path, t2_like: Path, taps_reference: Result
) -> None:
    """OpenVINO in fp32 (what ``auto`` picks where it is fastest) meets the same parity bounds as ONNX Runtime."""
    ours = run_deepinfer(taps_card, taps_model, read_volume(t2_like), runtime="openvino")
    assert_parity(ours, taps_reference, "TAPS parity, OpenVINO fp32")


def test_fast_mode_keeps_the_cards_fast_bounds(
    openvino_available: None, taps_card: ModelCard, taps_model: Path, t2_like: Path, taps_reference: Result
) -> None:
    bounds = taps_card.precision.fast
    assert bounds is not None and bounds.max_abs_diff is not None
    fast = run_deepinfer(taps_card, taps_model, read_volume(t2_like), runtime="openvino", precision="fast")
    difference = float(np.abs(fast.probability - taps_reference.probability).max())
    overlap = dice(fast.mask, taps_reference.mask)
    print(f"\nTAPS fast ({fast.seconds:.1f} s) vs TAPS' own: max |Δprob| {difference:.3f}, Dice {overlap:.5f}")
    assert overlap >= bounds.min_dice
    assert difference <= bounds.max_abs_diff
