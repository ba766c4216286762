"""Pulling a series from a PACS (QIDO-RS to count it, WADO-RS to fetch it) and storing results into a study
(STOW-RS), with ``dicomweb-client`` over a ``requests`` session: the one seam through which deepinfer talks to
a PACS. What a PACS sends is checked like any upload: each instance must belong to the series asked for, their
number and size are bounded, and the files are named here (never after anything the PACS sends)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from deepinfer._exceptions import FetchError, InputError, UsageError
from deepinfer.dicomweb._access import Pacs
from deepinfer.dicomweb._location import DicomWebLocation

MAX_INSTANCES = 5000
MAX_SERIES_BYTES = 8 << 30
TIMEOUT_S = (10.0, 300.0)  # connect, read
Progress = Callable[[str, int, int], None]


def _no_progress(task: str, done: int, total: int) -> None:
    pass


def open_client(location: DicomWebLocation, pacs: Pacs) -> Any:
    """A DICOMweb client for ``location``'s root: redirects refused, time limits, the credentials of ``pacs``."""
    try:
        import requests
        from dicomweb_client import DICOMwebClient
    except ImportError:
        raise UsageError("DICOMweb needs the dicom extra: pip install 'deepinfer[dicom]'") from None
    session = requests.Session()
    session.max_redirects = 0  # a PACS answers where it was asked
    if pacs.token:
        session.headers["Authorization"] = f"Bearer {pacs.token}"
    elif pacs.username:
        session.auth = (pacs.username, pacs.password or "")
    return DICOMwebClient(location.base_url, session=session, timeout=TIMEOUT_S)


def fetch_series(
    location: DicomWebLocation, folder: Path, client: Any, progress: Progress = _no_progress
) -> list[Path]:
    """Every instance of ``location``'s series written into ``folder`` (one file each); the files."""
    if location.study is None or location.series is None:
        raise UsageError(f"{location.url}: an input names a series: .../studies/STUDY_UID/series/SERIES_UID")
    with _talking_to(location):
        found = client.search_for_instances(location.study, location.series, fields=["00080018"])
        total = len(found)
        if total == 0:
            raise InputError(f"{location.url}: the PACS has no instance of this series")
        if total > MAX_INSTANCES:
            raise InputError(f"{location.url}: {total} instances; at most {MAX_INSTANCES} are fetched")
        folder.mkdir(parents=True, exist_ok=True)
        return _write_instances(location, client.iter_series(location.study, location.series), folder, total, progress)


def _write_instances(
    location: DicomWebLocation, datasets: Iterable[Any], folder: Path, total: int, progress: Progress
) -> list[Path]:
    files: list[Path] = []
    size = 0
    progress("download series", 0, total)
    for dataset in datasets:
        study, series = getattr(dataset, "StudyInstanceUID", None), getattr(dataset, "SeriesInstanceUID", None)
        if (study, series) != (location.study, location.series):
            raise InputError(f"{location.url}: the PACS sent an instance of another series ({series}); refused")
        if len(files) >= min(total, MAX_INSTANCES):
            raise InputError(f"{location.url}: the PACS sent more instances than it listed ({total}); refused")
        path = folder / f"{len(files):05d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        size += path.stat().st_size
        if size > MAX_SERIES_BYTES:
            raise InputError(f"{location.url}: the series is larger than {MAX_SERIES_BYTES >> 30} GiB; refused")
        files.append(path)
        progress("download series", len(files), total)
    if len(files) != total:
        raise InputError(f"{location.url}: the PACS listed {total} instances but sent {len(files)}")
    return files


def store_files(location: DicomWebLocation, paths: Sequence[Path], client: Any, study: str) -> None:
    """Store the DICOM files ``paths`` into ``study`` (STOW-RS); every instance must be accepted."""
    import pydicom

    datasets = [pydicom.dcmread(path) for path in paths]
    with _talking_to(location):
        response = client.store_instances(datasets, study_instance_uid=study)
    failed = getattr(response, "FailedSOPSequence", None)
    if failed:
        raise FetchError(f"{location.url}: the PACS refused {len(failed)} of {len(datasets)} instance(s)")


@contextlib.contextmanager
def _talking_to(location: DicomWebLocation) -> Iterator[None]:
    """Network and HTTP failures of the PACS as one clear :class:`FetchError` (never a requests traceback)."""
    import requests

    try:
        yield
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else "?"
        hint = " (credentials: see pacs.json in the README)" if status in (401, 403) else ""
        raise FetchError(f"{location.url}: the PACS answered HTTP {status}{hint}") from None
    except requests.RequestException as error:
        raise FetchError(f"{location.url}: cannot reach the PACS ({type(error).__name__})") from None
