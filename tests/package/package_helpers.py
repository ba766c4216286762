"""Helpers of the packaging tests: the CLI in a child process, example artifacts next to a card."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tiny_networks import tiny_onnx

__all__ = ["add_file_artifact", "deepinfer", "tiny_onnx", "write_json"]


def deepinfer(
    *argv: str, home: Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "deepinfer", *argv],
        capture_output=True,
        encoding="utf-8",
        env={**os.environ, "DEEPINFER_HOME": str(home), **(env or {})},
        cwd=cwd,
        check=False,
        timeout=600,
    )


def add_file_artifact(card: dict[str, Any], folder: Path, name: str, source: Path) -> None:
    """Copy ``source`` next to the card and list it as a file artifact named ``name``."""
    target = folder / f"{name}{''.join(source.suffixes)}"
    shutil.copyfile(source, target)
    data = target.read_bytes()
    card["artifacts"].append(
        {
            "name": name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "source": {"kind": "file", "path": target.name},
        }
    )


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path
