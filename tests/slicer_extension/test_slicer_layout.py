"""The extension's shape: Slicer's layout conventions, logic without Qt, a widget that only wires."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from slicer_helpers import LIB_DIR, MODULE_DIR, require_mrml

EXTENSION_DIR = MODULE_DIR.parent
MRML_MODULES = {"scene.py", "label_statistics.py", "plane_scores.py"}
QT_MODULES = {
    "qt",
    "ctk",
    "PythonQt",
    "PyQt5",
    "PyQt6",
    "PySide2",
    "PySide6",
    "slicer.util",
    "slicer.app",
    "slicer.ScriptedLoadableModule",
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_extension_follows_slicers_layout() -> None:
    top = (EXTENSION_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    for text in (
        "project(DeepInfer)",
        "find_package(Slicer REQUIRED)",
        "add_subdirectory(DeepInfer)",
        "Slicer_EXTENSION_GENERATE_CONFIG",
        "Slicer_EXTENSION_CPACK",
        "EXTENSION_CATEGORY",
    ):
        assert text in top
    assert (EXTENSION_DIR / "DeepInfer.s4ext").is_file()
    assert (MODULE_DIR / "Resources" / "Icons" / "DeepInfer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    module = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "slicerMacroBuildScriptedModule" in module and "slicer_add_python_unittest" in module
    listed = set(re.findall(r"\$\{MODULE_NAME\}Lib/(\w+\.py)", module))
    assert listed == {p.name for p in LIB_DIR.glob("*.py")}  # every logic file is installed with the module


def test_logic_modules_import_neither_qt_nor_the_slicer_application() -> None:
    for path in LIB_DIR.glob("*.py"):
        imports = imported_modules(path)
        assert not imports & QT_MODULES, (path.name, imports & QT_MODULES)
        if path.name not in MRML_MODULES:  # only the MRML part touches Slicer's libraries at all
            assert not {n for n in imports if n.split(".")[0] in {"slicer", "vtk", "vtkmodules"}}, path.name


def test_browsing_logic_loads_without_slicer_and_mrml_part_loads_with_slicer_core_alone() -> None:
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import DeepInferLib.cards, DeepInferLib.commands, DeepInferLib.process, DeepInferLib.logic;"
        "assert not {'slicer', 'vtk', 'qt', 'ctk'} & set(sys.modules), sorted(sys.modules);"
        "import DeepInferLib.scene, DeepInferLib.label_statistics, DeepInferLib.plane_scores;"
        "assert 'slicer' in sys.modules and not {'qt', 'ctk', 'PythonQt'} & set(sys.modules);"
        "assert not hasattr(sys.modules['slicer'], 'app')"
    )
    require_mrml()
    done = subprocess.run(
        [sys.executable, "-c", probe, str(MODULE_DIR)], capture_output=True, encoding="utf-8", timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr


def test_widget_only_wires() -> None:
    widget = MODULE_DIR / "DeepInfer.py"
    imports = imported_modules(widget)
    assert {"qt", "ctk", "slicer"} <= imports
    # no process, file-format or card handling of its own: those live in DeepInferLib
    assert not {n for n in imports if n.split(".")[0] in {"subprocess", "json", "tempfile", "threading", "re"}}
    tree = ast.parse(widget.read_text(encoding="utf-8"))
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    assert set(classes) == {"DeepInfer", "DeepInferWidget", "DeepInferLogic", "DeepInferTest"}
    bases = {name: [ast.unparse(b) for b in node.bases] for name, node in classes.items()}
    assert bases["DeepInferLogic"] == ["ScriptedLoadableModuleLogic", "Logic"]
    assert bases["DeepInferTest"] == ["ScriptedLoadableModuleTest"]
    compile(widget.read_text(encoding="utf-8"), str(widget), "exec")
