"""Per-label statistics of a labelmap output (``STEM.statistics.json``, written by ``deepinfer run`` beside
the output) → a table node attached to the segmentation the labelmap became.

MRML only, no Qt. One row per label in the file's order; a label without voxels has empty statistics, shown
as NaN (a double column holds no null). The segmentation refers to its table (node reference
``DeepInfer.statistics``), so a run into the same segmentation refills the same table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import vtk

from .scene import SceneError, use_column_headers

STATISTICS_REFERENCE = "DeepInfer.statistics"
SEGMENTATION_REFERENCE = "DeepInfer.segmentation"
# (column, field of a row in the JSON, vtk array class): the table keeps the file's numbers, in this order
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("label", "name", "vtkStringArray"),
    ("value", "value", "vtkIntArray"),
    ("voxels", "voxels", "vtkIntArray"),
    ("volume mL", "volume_ml", "vtkDoubleArray"),
    ("mean", "mean", "vtkDoubleArray"),
    ("SD", "sd", "vtkDoubleArray"),
    ("min", "min", "vtkDoubleArray"),
    ("max", "max", "vtkDoubleArray"),
    ("touches border", "touches_border", "vtkStringArray"),
)
DESCRIPTIONS = {
    "volume mL": "voxel count × voxel volume",
    "mean": "mean input intensity inside the label (empty when the label has no voxel)",
    "SD": "standard deviation (population) of the input intensity inside the label",
    "touches border": "yes: the label reaches the first or last voxel of an image axis (it may continue outside)",
}


def _cell(field: str, row: Mapping[str, Any]) -> Any:
    value = row.get(field)
    if field == "touches_border":
        return "yes" if value else "no"
    if field == "name":
        return str(value)
    if field in {"value", "voxels"}:
        return int(value or 0)
    return math.nan if value is None else float(value)


def statistics_rows(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The rows of a statistics document, checked enough that a broken file is a clear error."""
    rows = document.get("labels")
    if not isinstance(rows, list) or not all(isinstance(row, Mapping) and "value" in row for row in rows):
        raise SceneError("the statistics file has no list of labels")
    return rows


def fill_statistics_table(table_node: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    table = table_node.GetTable()
    table.Initialize()
    for column, field, array_class in COLUMNS:
        array = getattr(vtk, array_class)()
        array.SetName(column)
        for row in rows:
            array.InsertNextValue(_cell(field, row))
        table.AddColumn(array)
    for column, text in DESCRIPTIONS.items():
        table_node.SetColumnDescription(column, text)
    table_node.SetColumnUnitLabel("volume mL", "mL")
    use_column_headers(table_node)
    table_node.Modified()


def import_statistics(scene: Any, document: Mapping[str, Any], segmentation: Any, node: Any = None) -> Any:
    """The statistics of ``segmentation``'s labelmap as a table node named after it (the segmentation's own
    table when it has one and ``node`` is None)."""
    rows = statistics_rows(document)
    if node is None and segmentation is not None:
        node = segmentation.GetNodeReference(STATISTICS_REFERENCE)
    name = f"{segmentation.GetName() if segmentation is not None else 'labels'} statistics"
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    else:
        node.SetName(name)
    fill_statistics_table(node, rows)
    output = document.get("output")
    if isinstance(output, Mapping) and output.get("name"):
        node.SetAttribute("DeepInfer.statistics.output", str(output["name"]))
    if document.get("intensity_input"):
        node.SetAttribute("DeepInfer.statistics.intensityInput", str(document["intensity_input"]))
    if segmentation is not None:
        segmentation.SetNodeReferenceID(STATISTICS_REFERENCE, node.GetID())
        node.SetNodeReferenceID(SEGMENTATION_REFERENCE, segmentation.GetID())
    return node


def statistics_table_of(segmentation: Any) -> Any:
    """The statistics table of a segmentation a run produced (None when it has none)."""
    return segmentation.GetNodeReference(STATISTICS_REFERENCE) if segmentation is not None else None
