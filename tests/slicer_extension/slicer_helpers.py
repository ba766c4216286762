"""Shared helpers of the Slicer extension tests: the module folder on sys.path, the real deepinfer CLI, and
real MRML scenes from Slicer's own libraries (the ``slicer-core`` wheel)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from DeepInferLib.commands import Connection  # on sys.path through pytest's pythonpath setting (pyproject)

from realparts import require

MODULE_DIR = Path(__file__).resolve().parents[2] / "slicer" / "DeepInfer"
LIB_DIR = MODULE_DIR / "DeepInferLib"

DEEPINFER = (sys.executable, "-m", "deepinfer")
# A model that runs fast on a small crop, preferred when the registry has it; prostate-taps otherwise.
FAST_MODEL = "brain-extraction-deepbet"


def connection(**changes: Any) -> Connection:
    """The real CLI of this checkout, run as ``python -m deepinfer`` (environment inherited at start)."""
    return Connection(DEEPINFER, **changes)


def require_mrml() -> None:
    require(
        importlib.util.find_spec("slicer_core") is not None,
        "Slicer's MRML libraries come from the slicer-core wheel (pip install slicer-core)",
    )


def new_scene() -> tuple[Any, Any]:
    """A real vtkMRMLScene wired as Slicer wires it: application logic, the Colors logic (its built-in colour
    tables; the colour *files* are not in the wheel) and the Volumes logic. Returns (scene, volumes logic)."""
    require_mrml()
    import slicer

    scene = slicer.vtkMRMLScene()
    application = slicer.vtkSlicerApplicationLogic()
    application.SetMRMLScene(scene)
    logics = [application]
    for name, logic in (("Colors", slicer.vtkSlicerColorLogic()), ("Volumes", slicer.vtkSlicerVolumesLogic())):
        logic.SetMRMLApplicationLogic(application)
        logic.SetMRMLScene(scene)
        application.SetModuleLogic(name, logic)
        logics.append(logic)
    scene.deepinfer_test_logics = logics  # the logics must live as long as the scene
    return scene, logics[-1]


def load_volume(volumes: Any, path: Path, name: str, labelmap: bool = False) -> Any:
    node = volumes.AddArchetypeVolume(str(path), name, 1 if labelmap else 0)
    assert node is not None, f"Slicer could not load {path}"
    return node


def matrix(node: Any) -> list[list[float]]:
    from DeepInferLib.scene import ijk_to_ras

    return ijk_to_ras(node)


def voxels(node: Any) -> Any:
    """The voxels of a volume node as a numpy array (k, j, i)."""
    from vtkmodules.util.numpy_support import vtk_to_numpy

    image = node.GetImageData()
    dims = image.GetDimensions()
    return vtk_to_numpy(image.GetPointData().GetScalars()).reshape(dims[2], dims[1], dims[0])
