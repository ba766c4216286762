"""Nodes ↔ files: export input volumes for the CLI, import its results into the MRML scene.

MRML only, no Qt: it runs on Slicer's own MRML and logic libraries, in the Slicer application or with the
``slicer-core`` wheel (both put the MRML classes under the ``slicer`` namespace). Labelmaps become segmentation
nodes (segment names and colours from the card's label table, geometry from the file, i.e. the input's); other
image outputs become scalar volumes; class scores become a table; the provenance sidecar becomes attributes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import slicer
import vtk

ATTRIBUTE_PREFIX = "DeepInfer."
PROVENANCE_ATTRIBUTE = ATTRIBUTE_PREFIX + "provenance"
CODE_TAG = ATTRIBUTE_PREFIX + "code"


class SceneError(Exception):
    """A node could not be written or a result file could not be read into the scene."""


def hex_to_rgb(color: str) -> tuple[float, float, float]:
    """``#rrggbb`` → (r, g, b) in 0–1."""
    value = color.lstrip("#")
    return (int(value[0:2], 16) / 255.0, int(value[2:4], 16) / 255.0, int(value[4:6], 16) / 255.0)


def ijk_to_ras(node: Any) -> list[list[float]]:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return [[matrix.GetElement(row, column) for column in range(4)] for row in range(4)]


def dimensions(node: Any) -> tuple[int, int, int]:
    image = node.GetImageData()
    return tuple(image.GetDimensions()) if image is not None else (0, 0, 0)


# ---------------------------------------------------------------------------------------------- export


def export_volume(node: Any, path: Path) -> Path:
    """Write a volume node to ``path`` (NRRD keeps Slicer's IJK-to-RAS exactly; uncompressed for speed).

    A transformed node is refused: the file would not show what the user sees."""
    if node is None or node.GetImageData() is None:
        raise SceneError("the input volume has no image data")
    if node.GetParentTransformNode() is not None:
        raise SceneError(f"{node.GetName()}: the volume is under a transform; harden or remove the transform first")
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    storage.SetUseCompression(False)
    if not storage.WriteData(node):
        raise SceneError(f"{node.GetName()}: could not write {path.name}")
    return path


# ---------------------------------------------------------------------------------------------- import


def read_volume(scene: Any, path: Path, name: str, node: Any = None, labelmap: bool = False) -> Any:
    """Read an image file into ``node`` (a new scalar or labelmap volume node when None)."""
    created = node is None
    if node is None:
        node_class = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
        node = scene.AddNewNodeByClass(node_class, scene.GenerateUniqueName(name))
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    storage.SetSingleFile(True)
    if not path.is_file() or not storage.ReadData(node):
        if created:
            scene.RemoveNode(node)
        raise SceneError(f"{path.name}: could not read the result into {name}")
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def labels_color_table(scene: Any, name: str, labels: Sequence[Mapping[str, Any]]) -> Any:
    """A colour table whose entries are the card's labels (value → name, colour); 0 stays background."""
    table = slicer.vtkMRMLColorTableNode()
    table.SetTypeToUser()
    table.SetName(scene.GenerateUniqueName(name))
    table.HideFromEditorsOn()
    table.SetNumberOfColors(max(int(label["value"]) for label in labels) + 1)
    table.SetColor(0, "background", 0.0, 0.0, 0.0, 0.0)
    for label in labels:
        red, green, blue = hex_to_rgb(label["color"])
        table.SetColor(int(label["value"]), str(label["name"]), red, green, blue, 1.0)
    scene.AddNode(table)
    return table


def ensure_converter_rules() -> None:
    """Register the segmentation representation converters the Slicer application registers at start-up
    (its Segmentations module does it); with Slicer's MRML libraries alone (``slicer-core``) no one has, and a
    segmentation could not even create an empty binary labelmap segment."""
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    if factory.GetConverterRules():
        return
    factory.RegisterConverterRule(slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule())
    factory.RegisterConverterRule(slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule())


def remove_node(scene: Any, node: Any) -> None:
    """Remove a node with its display and storage nodes."""
    helpers = []
    if node.IsA("vtkMRMLDisplayableNode"):
        helpers += [node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())]
    if node.IsA("vtkMRMLStorableNode"):
        helpers += [node.GetNthStorageNode(i) for i in range(node.GetNumberOfStorageNodes())]
    for helper in helpers:
        if helper is not None:
            scene.RemoveNode(helper)
    scene.RemoveNode(node)


def _segments(segmentation: Any) -> Iterator[tuple[str, Any]]:
    for index in range(segmentation.GetNumberOfSegments()):
        yield segmentation.GetNthSegmentID(index), segmentation.GetNthSegment(index)


def import_segmentation(
    scene: Any,
    path: Path,
    labels: Sequence[Mapping[str, Any]],
    reference: Any,
    name: str,
    segmentation_node: Any = None,
) -> Any:
    """A labelmap file → a segmentation node: one segment per card label, named and coloured
    from the card (a label absent from the result still gets its, empty, segment), on ``reference``'s grid."""
    ensure_converter_rules()
    labelmap = read_volume(scene, path, name + " labelmap", labelmap=True)
    table = labels_color_table(scene, name + " labels", labels)
    try:
        labelmap.GetDisplayNode().SetAndObserveColorNodeID(table.GetID())
        if segmentation_node is None:
            segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(name))
        segmentation_node.GetSegmentation().RemoveAllSegments()
        if segmentation_node.GetDisplayNode() is None:
            segmentation_node.CreateDefaultDisplayNodes()
        if reference is not None:
            segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(reference)
        messages = slicer.vtkMRMLMessageCollection()
        if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(
            labelmap, segmentation_node, "", messages
        ):
            raise SceneError(f"{path.name}: could not import the labelmap: {messages.GetAllMessagesAsString()}")
        _name_segments(segmentation_node, labels)
    finally:
        remove_node(scene, labelmap)
        scene.RemoveNode(table)
    return segmentation_node


def _name_segments(segmentation_node: Any, labels: Sequence[Mapping[str, Any]]) -> None:
    """Names, colours and codes exactly from the card; empty segments for labels with no voxel."""
    segmentation = segmentation_node.GetSegmentation()
    by_value = {segment.GetLabelValue(): (segment_id, segment) for segment_id, segment in _segments(segmentation)}
    known = {int(label["value"]) for label in labels}
    for value, (_, segment) in by_value.items():
        if value not in known:  # the result holds a value its card does not name: keep it, visibly
            segment.SetName(f"label {value}")
    for label in labels:
        found = by_value.get(int(label["value"]))
        if found is None:
            segment_id = segmentation.AddEmptySegment("", str(label["name"]), list(hex_to_rgb(label["color"])))
            segment = segmentation.GetSegment(segment_id)
        else:
            segment = found[1]
        segment.SetName(str(label["name"]))
        segment.SetColor(*hex_to_rgb(label["color"]))
        if label.get("code"):
            segment.SetTag(CODE_TAG, str(label["code"]))
        segment.SetTag(ATTRIBUTE_PREFIX + "labelValue", str(label["value"]))


def segment_tag(segment: Any, tag: str) -> str | None:
    value = vtk.reference("")
    return str(value) if segment.GetTag(tag, value) else None


def segment_names_and_colors(segmentation_node: Any) -> list[tuple[str, str]]:
    """[(name, #rrggbb)] of a segmentation node, in segment order."""
    result = []
    for _, segment in _segments(segmentation_node.GetSegmentation()):
        red, green, blue = segment.GetColor()
        result.append((segment.GetName(), "#{:02x}{:02x}{:02x}".format(*(round(c * 255) for c in (red, green, blue)))))
    return result


def use_column_headers(table_node: Any) -> None:
    """Show column names as the table view's header (not as a first row): a view row is then a table row."""
    table_node.SetUseColumnTitleAsColumnHeader(True)


def import_table(scene: Any, document: Mapping[str, Any], name: str, node: Any = None) -> Any:
    """Class scores ``{"classes": [...], "scores": [...]}`` (or ``{class: score}``) → a two-column table node."""
    if "classes" in document:
        pairs = list(zip(document["classes"], document["scores"], strict=True))
    else:
        pairs = [(key, value) for key, value in document.items()]
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    table = node.GetTable()
    table.Initialize()
    classes = vtk.vtkStringArray()
    classes.SetName("class")
    scores = vtk.vtkDoubleArray()
    scores.SetName("score")
    for label, score in pairs:
        classes.InsertNextValue(str(label))
        scores.InsertNextValue(float(score))
    table.AddColumn(classes)
    table.AddColumn(scores)
    use_column_headers(node)
    node.Modified()
    return node


# ------------------------------------------------------------------------------------------- provenance


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _flatten(f"{prefix}.{key}", item)
    elif isinstance(value, list | tuple):
        yield prefix, json.dumps(value)
    else:
        yield prefix, "" if value is None else str(value)


def attach_provenance(node: Any, provenance: Mapping[str, Any]) -> None:
    """The sidecar as node attributes: the whole JSON under ``DeepInfer.provenance`` and every leaf flattened
    (``DeepInfer.model.id``, ``DeepInfer.parameters.threshold``, ``DeepInfer.inputs.T2.sha256``, ...)."""
    node.SetAttribute(PROVENANCE_ATTRIBUTE, json.dumps(provenance, sort_keys=True))
    for key, value in _flatten(ATTRIBUTE_PREFIX.rstrip("."), provenance):
        node.SetAttribute(key, value)


def read_provenance(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8")))
