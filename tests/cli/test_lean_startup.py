"""Lean start-up: the heavy runtimes and image libraries are imported only when a command uses them.

The wall time of ``deepinfer models list`` (< 0.5 s is the goal) is measured by ``benchmarks/speed.py``; a
timed assertion here would fail on a busy machine, so this test checks what the command imports instead."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "openvino", "onnxruntime", "SimpleITK", "scipy", "matplotlib", "monai")

PROBE = """
import json, sys
from deepinfer.cli import run_cli
code = run_cli(sys.argv[1:])
print(json.dumps({"code": code, "loaded": [m for m in %r if m in sys.modules]}))
"""


def loaded_by(*args: str) -> list[str]:
    argv = [sys.executable, "-c", PROBE % (HEAVY,), *args]
    result = subprocess.run(argv, capture_output=True, encoding="utf-8", check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, result.stderr
    loaded: list[str] = report["loaded"]
    return loaded


def test_models_list_imports_no_runtime_and_no_image_library() -> None:
    assert loaded_by("models", "list") == []
    assert loaded_by("models", "show", "prostate-taps", "--json") == []


def test_importing_the_runners_and_the_pipeline_imports_no_runtime() -> None:
    code = f"import sys, deepinfer.runners, deepinfer.run; print([m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, encoding="utf-8", check=True)
    assert result.stdout.strip() == "[]"
