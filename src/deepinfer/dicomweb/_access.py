"""Who may be asked, and with which credentials: ``DEEPINFER_HOME/pacs.json``, written by the user (or, for a
server, its operator)::

    {"pacs": [{"name": "archive", "url": "dicomwebs://pacs.example.org/dicom-web",
               "username": "deepinfer", "password": "..."}]}

An entry may hold ``username`` and ``password`` (HTTP basic) or ``token`` (a bearer token); a file that holds
any must be readable by its owner only (mode 0600), else it is refused. The environment wins over the file:
``DEEPINFER_DICOMWEB_TOKEN``, or ``DEEPINFER_DICOMWEB_USER`` with ``DEEPINFER_DICOMWEB_PASSWORD``.

The command line may name any PACS (it is the user's own command); the server reaches only the PACS listed in
its ``pacs.json`` (:func:`allowed_pacs`), so no job can make it connect to an arbitrary address.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepinfer._exceptions import InputError, UsageError
from deepinfer.dicomweb._location import DicomWebLocation, parse_location

PACS_FILE = "pacs.json"
TOKEN_VARIABLE = "DEEPINFER_DICOMWEB_TOKEN"
USER_VARIABLE = "DEEPINFER_DICOMWEB_USER"
PASSWORD_VARIABLE = "DEEPINFER_DICOMWEB_PASSWORD"
_SECRETS = ("password", "token")


@dataclass(frozen=True)
class Pacs:
    name: str
    base_url: str
    username: str | None = None
    password: str | None = None
    token: str | None = None

    def __repr__(self) -> str:  # never print a secret
        return f"Pacs(name={self.name!r}, base_url={self.base_url!r})"


def configured_pacs(home: Path) -> list[Pacs]:
    """The PACS of ``home/pacs.json`` (none when there is no file)."""
    path = home / PACS_FILE
    if not path.is_file():
        return []
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: cannot read the PACS list ({error.__class__.__name__}: {error})") from None
    entries = document.get("pacs") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise InputError(f'{path}: expected {{"pacs": [{{"name": ..., "url": "dicomweb://..."}}, ...]}}')
    listed = [_entry(path, index, entry) for index, entry in enumerate(entries)]
    if any(getattr(p, key) for p in listed for key in _SECRETS) and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(f"{path} holds credentials but others may read it; chmod 600 {path.name}")
    return listed


def _entry(path: Path, index: int, entry: Any) -> Pacs:
    where = f"{path}: pacs[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not isinstance(entry.get("url"), str):
        raise InputError(f"{where}: each entry needs a name and a url")
    unknown = sorted(set(entry) - {"name", "url", "username", "password", "token"})
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}")
    values = {key: entry.get(key) for key in ("username", *_SECRETS)}
    if any(value is not None and not isinstance(value, str) for value in values.values()):
        raise InputError(f"{where}: username, password and token are strings")
    try:
        location = parse_location(entry["url"])
    except UsageError as error:
        raise InputError(f"{where}: {error}") from None
    if location.study is not None:
        raise InputError(f"{where}: the url is the PACS's DICOMweb root, without /studies/...")
    return Pacs(entry["name"], location.base_url, **values)


def credentials(location: DicomWebLocation, home: Path) -> Pacs:
    """The credentials for ``location``: from the environment, else from its entry in ``pacs.json``."""
    token, user = os.environ.get(TOKEN_VARIABLE), os.environ.get(USER_VARIABLE)
    if token or user:
        return Pacs("environment", location.base_url, user, os.environ.get(PASSWORD_VARIABLE), token)
    for pacs in configured_pacs(home):
        if pacs.base_url == location.base_url:
            return pacs
    return Pacs("unconfigured", location.base_url)


def allowed_pacs(location: DicomWebLocation, home: Path) -> Pacs:
    """For a server: ``location``'s entry in the operator's ``pacs.json``; any other PACS is refused."""
    listed = configured_pacs(home)
    for pacs in listed:
        if pacs.base_url == location.base_url:
            return pacs
    names = ", ".join(p.name for p in listed) or f"none: the server's {PACS_FILE} lists no PACS"
    raise UsageError(f"{location.url}: not a PACS this server may reach (configured: {names})")
