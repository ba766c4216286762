"""Class scores per plane (the ``scores.json`` of a plane-wise classifier) → a table, a plot chart and a marker
on the target plane; a table row → the slice views at that plane.

MRML only, no Qt. The file gives each plane's index along the input's storage axis ``input_axis``, its centre
in LPS millimetres and every class's score, the volume-level decision and each class's best plane. Slicer works
in RAS, so positions are converted (x and y negated) once, here: the table holds R, A, S columns, the chart
plots every class's score against the plane position along the world axis closest to the plane normal (the
plane index for ``frames``), and the decision's best plane gets a green markups plane named after the class —
the frame of the DeepInfer paper's Figure 4. The table refers to its chart and marker (node references), so a
run into the same table replaces them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import vtk

from .scene import SceneError, use_column_headers

INDEX_COLUMN = "plane"
POSITION_COLUMNS = ("R (mm)", "A (mm)", "S (mm)")
ORIENTATIONS = {"axial": "Axial", "coronal": "Coronal", "sagittal": "Sagittal"}
ORIENTATION_BY_AXIS = ("Sagittal", "Coronal", "Axial")  # the slice view whose normal is world axis R, A, S
PLANE_ATTRIBUTE = "DeepInfer.scores.plane"
AXIS_ATTRIBUTE = "DeepInfer.scores.inputAxis"
DECISION_ATTRIBUTE = "DeepInfer.scores.decision"
TARGET_ATTRIBUTE = "DeepInfer.scores.targetPlane"
CHART_REFERENCE = "DeepInfer.chart"
MARKER_REFERENCE = "DeepInfer.targetPlane"
TARGET_COLOR = (0.1, 0.85, 0.25)  # green, as the paper's target-plane frame
SERIES_COLORS = ((0.12, 0.47, 0.71), (1.0, 0.5, 0.05), (0.84, 0.15, 0.16), (0.58, 0.4, 0.74), (0.55, 0.34, 0.29))


@dataclass
class PlaneScoreNodes:
    """What one plane-scores output became in the scene."""

    table: Any
    chart: Any
    series: list[Any]
    marker: Any

    def extras(self) -> list[Any]:
        """The nodes besides the table (removed with it when an import fails)."""
        return [self.chart, *self.series, self.marker]


def is_plane_scores(document: Mapping[str, Any]) -> bool:
    """A per-plane document (not the older ``{"classes", "scores"}`` or ``{class: score}`` form)."""
    return isinstance(document.get("planes"), list) and isinstance(document.get("classes"), list)


def lps_to_ras(point: Sequence[float]) -> tuple[float, float, float]:
    return (-float(point[0]), -float(point[1]), float(point[2]))


def score_column(name: str) -> str:
    """A class's column (renamed only where a class is called like a position column)."""
    return f"{name} (score)" if name in {INDEX_COLUMN, *POSITION_COLUMNS} else name


def _checked(document: Mapping[str, Any]) -> tuple[list[str], list[Mapping[str, Any]]]:
    classes = [str(c) for c in document["classes"]]
    planes = document["planes"]
    for plane in planes:
        scores = plane.get("scores") if isinstance(plane, Mapping) else None
        position = plane.get("position_mm") if isinstance(plane, Mapping) else None
        if not isinstance(scores, Mapping) or set(classes) - set(scores) or not position or len(position) != 3:
            raise SceneError("the class-scores file has a plane without a position or without every class's score")
    decision = document.get("decision") or {}
    if decision.get("class") not in (document.get("best_planes") or {}):
        raise SceneError("the class-scores file names no best plane for its decision")
    return classes, planes


# ------------------------------------------------------------------------------------------------ table


def fill_plane_table(table_node: Any, document: Mapping[str, Any]) -> None:
    """One row per plane: its index, its centre (R, A, S in mm), then one column per class."""
    classes, planes = _checked(document)
    table = table_node.GetTable()
    table.Initialize()
    index = vtk.vtkIntArray()
    index.SetName(INDEX_COLUMN)
    positions = [vtk.vtkDoubleArray() for _ in POSITION_COLUMNS]
    scores = [vtk.vtkDoubleArray() for _ in classes]
    for array, name in zip([*positions, *scores], [*POSITION_COLUMNS, *map(score_column, classes)], strict=True):
        array.SetName(name)
    for plane in planes:
        index.InsertNextValue(int(plane["index"]))
        for array, value in zip(positions, lps_to_ras(plane["position_mm"]), strict=True):
            array.InsertNextValue(value)
        for array, name in zip(scores, classes, strict=True):
            array.InsertNextValue(float(plane["scores"][name]))
    for array in [index, *positions, *scores]:
        table.AddColumn(array)
    axis = document.get("input_axis")
    table_node.SetColumnDescription(INDEX_COLUMN, f"index of the plane along the input's storage axis {axis}")
    for column in POSITION_COLUMNS:
        table_node.SetColumnUnitLabel(column, "mm")
        table_node.SetColumnDescription(column, "plane centre, RAS (the scores file holds LPS)")
    table_node.SetAttribute(PLANE_ATTRIBUTE, str(document.get("plane", "")))
    table_node.SetAttribute(AXIS_ATTRIBUTE, str(axis))
    table_node.SetAttribute(DECISION_ATTRIBUTE, str(document["decision"]["class"]))
    table_node.SetAttribute(TARGET_ATTRIBUTE, str(target_plane(document)[1]["index"]))
    use_column_headers(table_node)
    table_node.Modified()


def plot_column(document: Mapping[str, Any]) -> str:
    """The chart's x column: the RAS axis closest to the plane normal (the index for frames or one plane)."""
    planes = document["planes"]
    if document.get("plane") == "frames" or len(planes) < 2:
        return INDEX_COLUMN
    first, last = lps_to_ras(planes[0]["position_mm"]), lps_to_ras(planes[-1]["position_mm"])
    steps = [abs(b - a) for a, b in zip(first, last, strict=True)]
    return POSITION_COLUMNS[steps.index(max(steps))]


# ------------------------------------------------------------------------------------------------ chart


def plot_plane_scores(scene: Any, table_node: Any, document: Mapping[str, Any], name: str) -> tuple[Any, list[Any]]:
    """A plot chart with one series per class (score against plane position), reusing the table's chart."""
    chart = table_node.GetNodeReference(CHART_REFERENCE)
    if chart is None:
        chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", scene.GenerateUniqueName(f"{name} chart"))
    old = [chart.GetNthPlotSeriesNode(i) for i in range(chart.GetNumberOfPlotSeriesNodes())]
    chart.RemoveAllPlotSeriesNodeIDs()
    for series in old:
        if series is not None:
            scene.RemoveNode(series)
    x_column = plot_column(document)
    series_nodes = []
    for k, label in enumerate(str(c) for c in document["classes"]):
        series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", scene.GenerateUniqueName(f"{name} {label}"))
        series.SetAndObserveTableNodeID(table_node.GetID())
        series.SetXColumnName(x_column)
        series.SetYColumnName(score_column(label))
        series.SetPlotType(series.PlotTypeScatter)
        series.SetLineStyle(series.LineStyleSolid)
        series.SetMarkerStyle(series.MarkerStyleCircle)
        series.SetMarkerSize(5)
        series.SetColor(*SERIES_COLORS[k % len(SERIES_COLORS)])
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
        series_nodes.append(series)
    decision = document["decision"]
    chart.SetTitle(f"{decision['class']} ({decision.get('rule', '')} over {len(document['planes'])} planes)")
    chart.SetXAxisTitle(f"{document.get('plane', '')} plane: {x_column}")
    chart.SetYAxisTitle("class score")
    chart.SetLegendVisibility(True)
    table_node.SetNodeReferenceID(CHART_REFERENCE, chart.GetID())
    return chart, series_nodes


# ----------------------------------------------------------------------------------------- target plane


def _unit(vector: Sequence[float]) -> list[float]:
    length = math.sqrt(sum(v * v for v in vector))
    return [v / length for v in vector] if length > 0 else [0.0, 0.0, 1.0]


def _cross(a: Sequence[float], b: Sequence[float]) -> list[float]:
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def plane_frame(document: Mapping[str, Any], reference: Any) -> tuple[list[float], list[float], tuple[float, float]]:
    """(in-plane axis, normal, size in mm) of the planes: the input's storage axes when its node is known,
    else the normal from the plane positions and a 200 mm square."""
    axis = int(document.get("input_axis", 2))
    if reference is not None and reference.GetImageData() is not None:
        matrix = vtk.vtkMatrix4x4()
        reference.GetIJKToRASMatrix(matrix)
        columns = [[matrix.GetElement(row, column) for row in range(3)] for column in range(3)]
        dims = reference.GetImageData().GetDimensions()
        others = [a for a in range(3) if a != axis]
        sizes = [dims[a] * math.sqrt(sum(v * v for v in columns[a])) for a in others]
        return _unit(columns[others[0]]), _unit(columns[axis]), (sizes[0], sizes[1])
    planes = document["planes"]
    if len(planes) > 1:
        first, last = lps_to_ras(planes[0]["position_mm"]), lps_to_ras(planes[-1]["position_mm"])
        normal = _unit([b - a for a, b in zip(first, last, strict=True)])
    else:
        orientation = ORIENTATIONS.get(str(document.get("plane")), "Axial")
        normal = [1.0 if ORIENTATION_BY_AXIS[a] == orientation else 0.0 for a in range(3)]
    helper = [1.0, 0.0, 0.0] if abs(normal[0]) < 0.9 else [0.0, 1.0, 0.0]
    return _unit(_cross(helper, normal)), normal, (200.0, 200.0)


def target_plane(document: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """(class, best-plane entry) of the volume-level decision."""
    chosen = str(document["decision"]["class"])
    return chosen, document["best_planes"][chosen]


def mark_target_plane(scene: Any, table_node: Any, document: Mapping[str, Any], reference: Any) -> Any:
    """A locked green markups plane over the decision's best plane, named after the class (reusing the
    table's marker)."""
    chosen, best = target_plane(document)
    in_plane, normal, size = plane_frame(document, reference)
    marker = table_node.GetNodeReference(MARKER_REFERENCE)
    if marker is None:
        marker = scene.AddNewNodeByClass("vtkMRMLMarkupsPlaneNode")
    marker.SetName(f"target: {chosen} (plane {best['index']})")
    marker.SetPlaneType(marker.PlaneTypePointNormal)
    marker.SetCenterWorld(*lps_to_ras(best["position_mm"]))
    marker.SetAxesWorld(in_plane, _cross(normal, in_plane), normal)
    marker.SetSizeMode(marker.SizeModeAbsolute)
    marker.SetSize(*size)
    marker.SetLocked(True)
    marker.SetAttribute("DeepInfer.target.class", chosen)
    marker.SetAttribute("DeepInfer.target.plane", str(best["index"]))
    if marker.GetDisplayNode() is None:
        marker.CreateDefaultDisplayNodes()
    display = marker.GetDisplayNode()
    if display is not None:
        display.SetColor(*TARGET_COLOR)
        display.SetSelectedColor(*TARGET_COLOR)
        display.SetFillOpacity(0.15)
        display.SetHandlesInteractive(False)
    table_node.SetNodeReferenceID(MARKER_REFERENCE, marker.GetID())
    return marker


def import_plane_scores(
    scene: Any, document: Mapping[str, Any], name: str, node: Any = None, reference: Any = None
) -> PlaneScoreNodes:
    """The scores file → table (into ``node`` when given), chart and target-plane marker."""
    _checked(document)  # before any node is made: a broken file adds nothing
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    fill_plane_table(node, document)
    chart, series = plot_plane_scores(scene, node, document, node.GetName())
    marker = mark_target_plane(scene, node, document, reference)
    return PlaneScoreNodes(node, chart, series, marker)


# ----------------------------------------------------------------------------------- row → slice views


def plane_position_ras(table_node: Any, row: int) -> tuple[float, float, float]:
    """The RAS centre (mm) of the plane in table row ``row``."""
    table = table_node.GetTable()
    if not 0 <= row < table.GetNumberOfRows():
        raise SceneError(f"{table_node.GetName()} has no row {row}")
    columns = [table.GetColumnByName(name) for name in POSITION_COLUMNS]
    if any(column is None for column in columns):
        raise SceneError(f"{table_node.GetName()} is not a table of plane scores")
    r, a, s = (float(column.GetValue(row)) for column in columns)
    return (r, a, s)


def slice_orientation(table_node: Any) -> str | None:
    """The slice view orientation that shows the table's planes (from the positions for frames)."""
    orientation = ORIENTATIONS.get(table_node.GetAttribute(PLANE_ATTRIBUTE) or "")
    table = table_node.GetTable()
    if orientation is None and table.GetNumberOfRows() > 1:
        first, last = plane_position_ras(table_node, 0), plane_position_ras(table_node, table.GetNumberOfRows() - 1)
        steps = [abs(b - a) for a, b in zip(first, last, strict=True)]
        orientation = ORIENTATION_BY_AXIS[steps.index(max(steps))]
    return orientation


def target_row(table_node: Any) -> int | None:
    """The table row of the plane classified as target (the decision's best plane)."""
    target = table_node.GetAttribute(TARGET_ATTRIBUTE)
    planes = table_node.GetTable().GetColumnByName(INDEX_COLUMN)
    if target is None or planes is None:
        return None
    rows = [row for row in range(planes.GetNumberOfTuples()) if str(planes.GetValue(row)) == target]
    return rows[0] if rows else None


def show_target_plane(scene: Any, table_node: Any) -> Any:
    """Move the slice views to the target plane; returns the table's chart (None when it has none)."""
    row = target_row(table_node)
    if row is not None:
        show_plane(scene, table_node, row)
    return table_node.GetNodeReference(CHART_REFERENCE)


def is_plane_table(node: Any) -> bool:
    return bool(node is not None and node.IsA("vtkMRMLTableNode") and node.GetAttribute(PLANE_ATTRIBUTE))


def show_plane(scene: Any, table_node: Any, row: int) -> list[Any]:
    """Move the slice views of the planes' orientation to the plane in ``row`` (every view when none has that
    orientation); returns the slice nodes moved."""
    position = plane_position_ras(table_node, row)
    orientation = slice_orientation(table_node)
    nodes = scene.GetNodesByClass("vtkMRMLSliceNode")
    views = [nodes.GetItemAsObject(i) for i in range(nodes.GetNumberOfItems())]
    chosen = [view for view in views if view.GetOrientation() == orientation] or views
    for view in chosen:
        view.JumpSliceByOffsetting(*position)
    return chosen
