"""``deepinfer run MODEL -i dicomweb://HOST/ROOT/studies/S/series/X``: each DICOMweb input is pulled from the PACS
into a temporary folder (named after its SeriesInstanceUID) for the run, and removed after it."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from deepinfer._config import deepinfer_home
from deepinfer.dicomweb import credentials, fetch_series, is_dicomweb, open_client, parse_location

if TYPE_CHECKING:
    from deepinfer.pipeline import ProgressCallback


@contextlib.contextmanager
def local_inputs(inputs: Mapping[str, str], progress: ProgressCallback) -> Iterator[dict[str, Path]]:
    """``inputs`` (name → path or DICOMweb URL) as local paths while the block runs."""
    remote = {name: parse_location(text) for name, text in inputs.items() if is_dicomweb(text)}
    local = {name: Path(text) for name, text in inputs.items() if name not in remote}
    if not remote:
        yield local
        return
    with tempfile.TemporaryDirectory(prefix="deepinfer-dicomweb-") as work:
        for name, location in remote.items():
            client = open_client(location, credentials(location, deepinfer_home()))
            folder = Path(work) / name / str(location.series)
            fetch_series(location, folder, client, progress)
            local[name] = folder
        yield local
