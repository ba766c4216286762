"""Plane-wise steps: planes chosen by direction cosines, per-plane resize and scaling, batched 2D inference
(classifier scores per plane with index and LPS position; segmentation maps back on the input grid)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pipeline_helpers import run_steps_on

from deepinfer._exceptions import PipelineError
from deepinfer.card import ModelCard
from deepinfer.imaging import Geometry, Volume
from deepinfer.pipeline import ClassScores, FloatArray, Pipeline, validate_card_pipeline
from deepinfer.pipeline._plane_inference import decide
from deepinfer.pipeline._planes import resize_stack


class PlaneStatistics:
    """A fake 2D classifier (NCHW or NHWC): per plane [mean, max − min]; it keeps every batch it saw."""

    def __init__(self, layout: str = "NCHW") -> None:
        self.layout = layout
        self.batches: list[FloatArray] = []

    def __call__(self, batch: FloatArray) -> FloatArray:
        self.batches.append(batch.copy())
        flat = batch.reshape(len(batch), -1)
        return np.stack([flat.mean(axis=1), flat.max(axis=1) - flat.min(axis=1)], axis=1).astype(np.float32)


def rotation(axis: int, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    a, b = [n for n in range(3) if n != axis]
    matrix = np.eye(3)
    matrix[a, a], matrix[a, b], matrix[b, a], matrix[b, b] = c, -s, s, c
    return matrix


GRIDS = {
    "LPS": np.eye(3),
    "RAS": np.diag([-1.0, -1.0, 1.0]),
    "i superior, j left, k anterior": np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]),
    "oblique (12° about x of a PIR grid)": rotation(0, 12.0) @ np.array([[0, 0, -1.0], [-1.0, 0, 0], [0, -1.0, 0]]),
}


def z_volume(direction: np.ndarray, size: tuple[int, int, int] = (9, 11, 7)) -> Volume:
    """Each voxel holds its own physical z (LPS superior) in mm, on an anisotropic grid."""
    geometry = Geometry((3.0, -8.0, 20.0), (1.5, 0.8, 2.5), tuple(float(v) for v in direction.ravel()), size)
    index = np.stack(np.meshgrid(*[np.arange(n) for n in size], indexing="ij"), axis=0).reshape(3, -1)
    z = (geometry.index_to_physical @ np.vstack([index, np.ones(index.shape[1])]))[2]
    return Volume(z.reshape(size).astype(np.float32), geometry)


def classify(volume: Volume, plane: str, network: Any, **infer: Any) -> ClassScores:
    steps: list[tuple[str, dict[str, Any]]] = [
        ("planes", {"plane": plane}),
        ("infer_planes", {"batch_size": 4, **infer}),
        ("class_scores", {"name": "scores", "activation": "none"}),
    ]
    return run_steps_on(volume, steps, lambda name: network).scores["scores"]


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_axial_planes_come_from_the_direction_cosines_not_the_storage_order(grid: str) -> None:
    volume = z_volume(GRIDS[grid])
    scores = classify(volume, "axial", PlaneStatistics())
    axis = int(np.argmax(np.abs(GRIDS[grid][2])))  # the storage axis closest to superior
    count = volume.geometry.size[axis]
    assert scores.axis == axis
    assert len(scores.planes) == count, "one entry per axial plane"
    assert sorted(scores.planes) == list(range(count))
    z = scores.positions[:, 2]
    assert np.all(np.diff(z) > 0), "inferior to superior"
    # each plane's mean voxel value is its own z: the position is where the plane really is
    np.testing.assert_allclose(scores.values[:, 0], z, atol=1e-3)
    centre = volume.geometry.index_to_physical @ np.array([*(np.asarray(volume.geometry.size) - 1) / 2, 1.0])
    np.testing.assert_allclose(scores.positions[:, :2].mean(axis=0), centre[:2], atol=1e-6)
    if "oblique" not in grid:
        assert np.all(scores.values[:, 1] < 1e-4), "an axial plane of an axis-aligned grid has one z"
        expected = volume.geometry.index_to_physical[2, axis] * np.asarray(scores.planes) + volume.geometry.origin[2]
        np.testing.assert_allclose(z, expected, atol=1e-6)


@pytest.mark.parametrize(("plane", "world"), [("coronal", 1), ("sagittal", 0)])
def test_coronal_and_sagittal_planes_step_along_their_normal(plane: str, world: int) -> None:
    volume = z_volume(GRIDS["i superior, j left, k anterior"])
    scores = classify(volume, plane, PlaneStatistics())
    steps = np.diff(scores.positions, axis=0)
    assert np.all(steps[:, world] > 0) and np.allclose(np.delete(steps, world, axis=1), 0.0)


def test_a_plane_is_laid_out_as_displayed_and_copied_into_rgb_channels_in_nhwc() -> None:
    volume = z_volume(GRIDS["RAS"], size=(6, 8, 3))
    array = np.zeros(volume.geometry.size, dtype=np.float32)
    array[-1, -1, :] = 1.0  # RAS grid: the last i is the patient's right, the last j anterior
    network = PlaneStatistics("NHWC")
    classify(volume.with_array(array), "axial", network, channels=3, layout="NHWC")
    batch = network.batches[0]
    assert batch.shape == (3, 8, 6, 3)  # planes, rows (A→P), columns (R→L), RGB
    assert batch[0, 0, 0, 0] == 1.0 and batch[0].sum() == 3.0, "right anterior is at the top left"
    assert np.array_equal(batch[..., 0], batch[..., 2])


def test_frames_are_the_stored_planes() -> None:
    volume = z_volume(GRIDS["i superior, j left, k anterior"])
    scores = classify(volume, "frames", PlaneStatistics())
    assert scores.axis == 2 and scores.planes == tuple(range(volume.geometry.size[2]))


def test_a_2d_segmenter_gives_maps_on_the_input_grid(odd_grid: Volume) -> None:
    def segmenter(batch: FloatArray) -> FloatArray:
        return np.concatenate([batch, -batch], axis=1)

    steps: list[tuple[str, dict[str, Any]]] = [
        ("planes", {"plane": "sagittal"}),
        ("infer_planes", {"batch_size": 5}),
        ("restore_geometry", {}),
        ("output", {"name": "first"}),
    ]
    state = run_steps_on(odd_grid, steps, lambda name: segmenter)
    output = state.outputs["first"]
    assert output.geometry.same_as(odd_grid.geometry)
    assert state.plane is None, "back on the input grid, the image is no longer a stack of planes"
    np.testing.assert_array_equal(output.array, odd_grid.array)


def test_resized_planes_go_back_onto_the_input_grid(odd_grid: Volume) -> None:
    steps: list[tuple[str, dict[str, Any]]] = [
        ("planes", {"plane": "axial"}),
        ("resize_planes", {"size": [32, 40], "interpolation": "linear"}),
        ("infer_planes", {}),
        ("restore_geometry", {}),
        ("output", {"name": "back"}),
    ]
    shapes: list[tuple[int, ...]] = []

    def identity(batch: FloatArray) -> FloatArray:
        shapes.append(batch.shape)
        return batch

    back = run_steps_on(odd_grid, steps, lambda name: identity).outputs["back"]
    assert shapes[0][2:] == (32, 40)
    assert back.geometry.same_as(odd_grid.geometry)
    assert abs(float(back.array.mean()) - float(odd_grid.array.mean())) < 1.0


def test_cubic_resize_matches_pillow_bicubic_up_and_down() -> None:
    from PIL import Image

    rng = np.random.default_rng(3)
    for shape in [(181, 217), (300, 270)]:  # enlarge, and shrink (antialiased)
        rough = rng.uniform(0, 255, size=(shape[0] // 8, shape[1] // 8)).astype(np.float32)
        smooth = resize_stack(rough[None, :, :, None], shape, "linear")[0, :, :, 0]
        picture = np.clip(np.rint(smooth), 0, 255).astype(np.uint8)
        theirs = np.asarray(Image.fromarray(picture).resize((240, 240), Image.Resampling.BICUBIC), dtype=np.float32)
        ours = resize_stack(picture.astype(np.float32)[None, :, :, None], (240, 240), "cubic")[0, :, :, 0]
        difference = np.abs(np.rint(np.clip(ours, 0, 255)) - theirs)  # Pillow rounds to 8 bits between passes
        assert difference.max() <= 1.0 and difference.mean() < 0.2


def test_scale_planes_windows_each_plane_on_its_own() -> None:
    array = np.zeros((4, 5, 3), dtype=np.float32)
    array[..., 0] = np.arange(20).reshape(4, 5)
    array[..., 1] = 1000.0 + 10 * np.arange(20).reshape(4, 5)  # RAS-free: any grid; the frames are k
    volume = Volume(array, Geometry((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), tuple(np.eye(3).ravel()), (4, 5, 3)))
    state = run_steps_on(volume, [("planes", {"plane": "frames"}), ("scale_planes", {"minimum": 0, "maximum": 1})])
    data = state.image.data[0]
    assert data[..., 0].min() == 0.0 and data[..., 0].max() == 1.0
    np.testing.assert_allclose(data[..., 0], data[..., 1], atol=1e-6)
    assert np.all(data[..., 2] == 0.0), "a blank plane becomes the minimum"


def test_blank_planes_are_skipped_and_none_left_is_an_error() -> None:
    volume = z_volume(GRIDS["LPS"])
    array = np.random.default_rng(5).uniform(1.0, 2.0, size=volume.geometry.size).astype(np.float32)
    array[:, :, :2] = 0.0
    scores = classify(volume.with_array(array), "axial", PlaneStatistics(), skip_blank=True)
    assert scores.planes == (2, 3, 4, 5, 6)
    with pytest.raises(PipelineError, match="no plane to run the network on \\(all 7 axial planes are blank\\)"):
        classify(volume.with_array(np.zeros_like(array)), "axial", PlaneStatistics(), skip_blank=True)


def test_wrong_channel_count_and_missing_planes_step_are_errors(odd_grid: Volume) -> None:
    with pytest.raises(PipelineError, match="not a stack of planes"):
        run_steps_on(odd_grid, [("infer_planes", {})], lambda name: PlaneStatistics())
    with pytest.raises(PipelineError, match="no plane scores"):
        run_steps_on(odd_grid, [("class_scores", {"name": "scores"})])

    def two_channels(batch: FloatArray) -> FloatArray:
        return np.concatenate([batch, batch], axis=1)

    steps: list[tuple[str, dict[str, Any]]] = [
        ("planes", {"plane": "axial"}),
        ("infer_planes", {"network": "model"}),  # a segmenter: two maps per plane
        ("infer_planes", {"network": "rgb", "channels": 3}),
    ]
    with pytest.raises(PipelineError, match="takes 3 channel\\(s\\), the image has 2"):
        run_steps_on(odd_grid, steps, lambda name: two_channels if name == "model" else PlaneStatistics())


@pytest.mark.parametrize(("rule", "expected", "decision"), [
    ("max", [0.9, 0.6, 0.3], 0),
    ("mean", [0.375, 0.4, 0.225], 1),
    ("majority", [0.25, 0.75, 0.0], 1),
])  # fmt: skip
def test_decision_rules(rule: str, expected: list[float], decision: int) -> None:
    values = np.array([[0.9, 0.1, 0.0], [0.1, 0.6, 0.3], [0.2, 0.5, 0.3], [0.3, 0.4, 0.3]], np.float32)
    volume, chosen = decide(values, rule)
    np.testing.assert_allclose(volume, expected, atol=1e-6)
    assert chosen == decision


def test_a_majority_tie_goes_to_the_higher_mean_score() -> None:
    values = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.45, 0.55]], np.float32)
    shares, chosen = decide(values, "majority")
    np.testing.assert_allclose(shares, [0.5, 0.5])
    assert chosen == 0  # mean 0.5375 against 0.4625


def test_plane_step_parameters_are_checked_with_the_card(card_document: Any) -> None:
    document = card_document(
        [
            {"step": "planes", "params": {"plane": "oblique"}},
            {"step": "resize_planes", "params": {"size": [240]}},
            {"step": "infer_planes", "params": {"layout": "NWHC"}},
            {"step": "class_scores", "params": {"name": "scores", "rule": "median"}},
        ]
    )
    problems = {p.path: p.message for p in validate_card_pipeline(ModelCard.model_validate(document))}
    assert "must be one of 'axial', 'coronal', 'sagittal', 'frames'" in problems["$.pipeline[0].params.plane"]
    assert "[rows, columns]" in problems["$.pipeline[1].params.size"]
    assert "NWHC" in problems["$.pipeline[2].params.layout"]
    assert "median" in problems["$.pipeline[3].params.rule"]


@pytest.fixture
def card_document() -> Any:
    def build(pipeline: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": "plane-card",
            "name": "plane card",
            "version": "1.0.0",
            "task": "classification",
            "modality": "MR",
            "anatomy": "brain",
            "license": {"code": "MIT", "weights": "MIT"},
            "inputs": [{"type": "volume", "name": "image"}],
            "outputs": [{"type": "class_scores", "name": "scores", "classes": ["a", "b"]}],
            "artifacts": [{"name": "model", "sha256": "0" * 64, "size": 1, "source": {"kind": "file", "path": "m"}}],
            "runtime": {"type": "onnx"},
            "pipeline": pipeline,
        }

    return build


def test_a_pipeline_records_class_scores_without_an_image_output(card_document: Any) -> None:
    document = card_document(
        [
            {"step": "planes", "params": {}},
            {"step": "infer_planes", "params": {}},
            {"step": "class_scores", "params": {"name": "scores", "activation": "softmax"}},
        ]
    )
    card = ModelCard.model_validate(document)
    assert validate_card_pipeline(card) == []
    result = Pipeline.from_card(card).run_all(z_volume(GRIDS["LPS"]), lambda name: PlaneStatistics())
    assert result.volumes == {}
    scores = result.scores["scores"]
    np.testing.assert_allclose(scores.values.sum(axis=1), 1.0, rtol=1e-6)
    z = scores.positions[:, 2].astype(np.float64)  # the raw scores are [mean z, range] = [z, 0]
    np.testing.assert_allclose(scores.values[:, 1], 1 / (1 + np.exp(z)), rtol=1e-3)
