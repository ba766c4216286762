"""Where deepinfer keeps its files, and the few settings a user may change.

``DEEPINFER_HOME`` (else the user cache folder) holds the artifact cache and an optional ``config.json``::

    {"allowed_hosts": ["github.com", "zenodo.org"]}

``DEEPINFER_ALLOWED_HOSTS`` (comma separated) overrides the hosts of the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from deepinfer._exceptions import InputError

DEFAULT_ALLOWED_HOSTS = (
    "github.com",
    "objects.githubusercontent.com",
    "release-assets.githubusercontent.com",
    "zenodo.org",
)


def deepinfer_home() -> Path:
    configured = os.environ.get("DEEPINFER_HOME")
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_cache_dir("deepinfer"))


@dataclass(frozen=True)
class Settings:
    """User settings; ``allow_http_loopback`` is for tests only and is never read from the file or env."""

    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    allow_http_loopback: bool = False

    @classmethod
    def load(cls, home: Path | None = None) -> Settings:
        path = (home or deepinfer_home()) / "config.json"
        hosts = _hosts_from_file(path) if path.is_file() else DEFAULT_ALLOWED_HOSTS
        env_hosts = os.environ.get("DEEPINFER_ALLOWED_HOSTS")
        if env_hosts is not None:
            hosts = _normalise_hosts(env_hosts.split(","))
        return cls(allowed_hosts=hosts)


def _hosts_from_file(path: Path) -> tuple[str, ...]:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: cannot read the settings ({error.__class__.__name__}: {error})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: the settings must be a JSON object")
    hosts = data.get("allowed_hosts", DEFAULT_ALLOWED_HOSTS)
    if not isinstance(hosts, list | tuple) or not all(isinstance(h, str) for h in hosts):
        raise InputError(f"{path}: allowed_hosts must be a list of host names")
    return _normalise_hosts(hosts)


def _normalise_hosts(hosts: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(h.strip().lower() for h in hosts if h.strip())


__all__ = ["DEFAULT_ALLOWED_HOSTS", "Settings", "deepinfer_home"]
