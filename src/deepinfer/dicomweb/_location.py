"""Where a series lives on a PACS, written as a URL the command line and the server accept:

    dicomweb://HOST[:PORT]/ROOT/studies/STUDY_UID/series/SERIES_UID    (plain http: a PACS on a trusted network)
    dicomwebs://HOST[:PORT]/ROOT/studies/STUDY_UID/series/SERIES_UID   (https)

``ROOT`` is the DICOMweb root of the PACS (Orthanc: ``/dicom-web``). An output URL names a study
(``.../studies/STUDY_UID``) or only the root: results are stored into the source study either way. Every part
is checked before anything is asked of the network: no user information (credentials come from the
environment or ``pacs.json``, never from a command line), no query or fragment, UIDs of digits and dots only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from deepinfer._exceptions import UsageError

SCHEMES = {"dicomweb": "http", "dicomwebs": "https"}
UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
MAX_UID_LENGTH = 64
_ROOT = re.compile(r"^(/[A-Za-z0-9._~-]+)*$")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def is_dicomweb(text: str) -> bool:
    """Whether ``text`` is meant as a DICOMweb URL (a file name never starts with these schemes)."""
    return text.lower().startswith(tuple(f"{scheme}://" for scheme in SCHEMES))


@dataclass(frozen=True)
class DicomWebLocation:
    """A DICOMweb root (``base_url``: http(s)://host:port/root) and, within it, a study and a series."""

    url: str
    base_url: str
    study: str | None = None
    series: str | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc.lower()


def check_uid(value: str, what: str, url: str) -> str:
    if not UID.match(value) or len(value) > MAX_UID_LENGTH:
        raise UsageError(f"{url}: the {what} {value!r} is not a DICOM UID (digits and dots, at most 64 characters)")
    return value


def parse_location(url: str) -> DicomWebLocation:
    """The location ``url`` names; a :class:`UsageError` says which rule a malformed or hostile URL breaks."""
    if not url.isascii() or _UNSAFE.search(url):
        raise UsageError(f"{url!r}: a DICOMweb URL may not hold spaces, control characters or non-ASCII characters")
    parts = urlsplit(url)
    scheme = SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise UsageError(f"{url}: a DICOMweb URL starts with dicomweb:// (http) or dicomwebs:// (https)")
    if "@" in parts.netloc:
        raise UsageError(f"{url}: user information in the URL is refused; credentials come from the environment")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise UsageError(f"{url}: a query or fragment is refused")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise UsageError(f"{url}: the port is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise UsageError(f"{url}: the URL names no host")
    root, study, series = _split_path(parts.path.rstrip("/"), url)
    base = f"{scheme}://{parts.netloc.lower()}{root}"
    return DicomWebLocation(url, base, study, series)


def _split_path(path: str, url: str) -> tuple[str, str | None, str | None]:
    segments = path.split("/")
    if "studies" in segments:
        at = segments.index("studies")
        root, rest = "/".join(segments[:at]), segments[at + 1 :]
    else:
        root, rest = path, []
    if "." in segments or ".." in segments:
        raise UsageError(f"{url}: '.' or '..' in a DICOMweb URL's path is refused")
    if not _ROOT.match(root):
        raise UsageError(f"{url}: the DICOMweb root {root!r} is not a plain path")
    study = series = None
    if rest:
        study = check_uid(rest[0], "StudyInstanceUID", url)
        if len(rest) == 3 and rest[1] == "series":
            series = check_uid(rest[2], "SeriesInstanceUID", url)
        elif len(rest) != 1:
            raise UsageError(f"{url}: expected .../studies/STUDY_UID or .../studies/STUDY_UID/series/SERIES_UID")
    return root, study, series
