"""Refuse ONNX models whose external-data files lie outside the model's folder.

An ONNX file may keep tensors in other files named by a relative ``location``; a model from a registry
must not make the runtime read ``../../etc/passwd`` or follow a symlink out of its folder. Recent ONNX
Runtime releases check this too; this check does not depend on the runtime's version. It needs the
``onnx`` package; without it the runtime's own check is the only one.

Most models keep every tensor inside the file. Protobuf stores strings as their bytes, so a model in which
the key ``location`` never occurs cannot name an external file: such a file is recognised by a scan of its
bytes, without importing ``onnx`` or parsing the model (0.1 s saved per load of an 80 MB model).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deepinfer._exceptions import IntegrityError, PipelineError
from deepinfer.store import resolve_inside

EXTERNAL_KEY = b"location"


def _graph_tensors(graph: Any) -> Iterator[Any]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: Any) -> Iterator[Any]:
    for attribute in node.attribute:
        if attribute.HasField("t"):
            yield attribute.t
        yield from attribute.tensors
        if attribute.HasField("g"):
            yield from _graph_tensors(attribute.g)
        for graph in attribute.graphs:
            yield from _graph_tensors(graph)


def model_tensors(model: Any) -> Iterator[Any]:
    """Every tensor of a ModelProto: initializers, constants, subgraphs and local functions."""
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _node_tensors(node)


def external_locations(model: Any) -> list[str]:
    return [
        entry.value
        for tensor in model_tensors(model)
        if tensor.data_location == 1  # TensorProto.EXTERNAL
        for entry in tensor.external_data
        if entry.key == "location"
    ]


def may_name_external_data(path: Path) -> bool:
    """False when ``path``'s bytes cannot hold an external-data entry (the key ``location`` never occurs)."""
    with path.open("rb") as file:
        if os.fstat(file.fileno()).st_size == 0:  # (mmap cannot map an empty file)
            return False
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return data.find(EXTERNAL_KEY) != -1


def check_external_data(path: Path) -> None:
    """Raise :class:`IntegrityError` if a tensor's external data would be read from outside ``path``'s folder."""
    try:
        if not may_name_external_data(path):
            return
    except OSError as error:
        raise PipelineError(f"{path.name}: cannot read the model ({error.strerror or error})") from None
    try:
        import onnx
    except ImportError:
        return
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # protobuf's DecodeError and OSError
        raise PipelineError(f"{path.name}: not a readable ONNX model ({error.__class__.__name__})") from None
    folder = path.resolve().parent
    for location in external_locations(model):
        try:
            resolve_inside(folder, location)  # the one containment helper: no '..', no absolute path, no symlink
        except ValueError as error:
            raise IntegrityError(
                f"{path.name}: refused, external data {location!r} lies outside the model's folder ({error})"
            ) from None
