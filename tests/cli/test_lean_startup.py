"""Lean start-up: the heavy runtimes and image libraries are imported only when a command uses them.

The wall time of ``deepinfer models list`` (< 0.3 s is the goal) is measured by ``benchmarks/startup.py``; a
timed assertion here would fail on a busy machine, so this test checks what the command imports instead: no
runtime, no image library, and not even numpy, the pipeline or the runners' machinery (browsing cards needs
none of them); nor the modules of the other commands (they are imported when called)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "openvino", "onnxruntime", "SimpleITK", "scipy", "matplotlib", "monai")
OTHER_COMMANDS = ("deepinfer.cli._run_command", "deepinfer.cli._batch_command", "deepinfer.server", "deepinfer.package")
BROWSING = (
    *HEAVY, "numpy", "pydicom", "cryptography", "deepinfer.pipeline", "deepinfer.runners._networks", *OTHER_COMMANDS
)  # fmt: skip

PROBE = """
import json, sys
from deepinfer.cli import run_cli
code = run_cli(sys.argv[1:])
print(json.dumps({"code": code, "loaded": [m for m in %r if m in sys.modules]}))
"""


def loaded_by(*args: str, watch: tuple[str, ...] = BROWSING, env: dict[str, str] | None = None) -> list[str]:
    argv = [sys.executable, "-c", PROBE % (watch,), *args]
    result = subprocess.run(argv, capture_output=True, encoding="utf-8", check=True, env=env)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, result.stderr
    loaded: list[str] = report["loaded"]
    return loaded


def test_browsing_models_imports_no_runtime_no_image_library_and_no_numpy() -> None:
    assert loaded_by("models", "list") == []
    assert loaded_by("models", "show", "prostate-taps", "--json") == []


def test_a_second_listing_builds_no_card_model(tmp_path: Path) -> None:
    """The first listing validates the cards (the pydantic card models) and keeps their summaries; the next
    lists from those summaries, so the card models are not even imported, nor pydantic itself (typer is kept
    below 0.29, which builds a pydantic adapter for every option it parses: half of the listing's time)."""
    env = {**os.environ, "DEEPINFER_HOME": str(tmp_path / "home")}
    models = ("deepinfer.card._model", "deepinfer.card._validate", "deepinfer.card._legacy")
    assert loaded_by("models", "list", watch=models, env=env) == list(models)
    assert loaded_by("models", "list", watch=(*models, "pydantic"), env=env) == []
    assert loaded_by("models", "search", "brain", "--json", watch=(*models, "pydantic"), env=env) == []
    assert loaded_by("models", "show", "prostate-taps", watch=models, env=env) == list(models)


def test_importing_the_runners_and_the_pipeline_imports_no_runtime() -> None:
    code = f"import sys, deepinfer.runners, deepinfer.run; print([m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, encoding="utf-8", check=True)
    assert result.stdout.strip() == "[]"
