"""Writing a file atomically: the one helper every package uses for small files (JSON records, configuration,
cached cards). Readers see the old content or the new, never half; a failure removes the temporary file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` through a temporary file in the same folder renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, document: Mapping[str, Any] | list[Any], indent: int | None = 2) -> None:
    """``document`` as JSON (UTF-8, a final newline) written with :func:`write_atomic`."""
    write_atomic(path, json.dumps(document, indent=indent) + "\n")
