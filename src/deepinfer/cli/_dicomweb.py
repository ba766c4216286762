"""A PACS in ``deepinfer run``: ``-i dicomweb://HOST/ROOT/studies/S/series/X`` pulls each DICOMweb input into a
temporary folder (named after its SeriesInstanceUID) for the run, removed after it; ``--store
dicomweb://HOST/ROOT`` stores the run's DICOM outputs (each SEG and its SR) into their study afterwards."""

from __future__ import annotations

import contextlib
import inspect
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from deepinfer._config import deepinfer_home
from deepinfer._exceptions import UsageError
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


STORE_HELP = (
    "After the run, store its DICOM outputs (-o NAME.dcm: the SEG and its SR) into their study on this PACS "
    "(dicomweb://HOST:PORT/ROOT or dicomwebs://...; credentials from the environment or pacs.json)."
)


def store_option() -> inspect.Parameter:
    """The ``--store`` option of a generated ``run`` command."""
    annotation = Annotated[str | None, typer.Option("--store", metavar="DICOMWEB_URL", help=STORE_HELP)]
    return inspect.Parameter("store", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)


def check_store(url: str | None, outputs: Mapping[str, Path]) -> None:
    """Before the run: ``--store`` needs a DICOMweb URL and a DICOM output to store."""
    if url is None:
        return
    parse_location(url)
    if not any(path.name.lower().endswith(".dcm") for path in outputs.values()):
        raise UsageError("--store sends DICOM outputs to a PACS: give the labelmap output as -o NAME.dcm")


def store_outputs(url: str, outputs: Mapping[str, Path]) -> list[Path]:
    """Store every DICOM output (a SEG, and its SR) into its own study on the PACS at ``url``."""
    from deepinfer.run import store_dicom_outputs

    location = parse_location(url)
    return store_dicom_outputs(location, open_client(location, credentials(location, deepinfer_home())), outputs)
