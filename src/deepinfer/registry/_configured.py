"""The registries a user configured: ``<deepinfer home>/registries.json``, kept beside ``config.json``::

    {"registries": [
        {"name": "lab", "url": "https://models.example.org/registry/", "keys": ["ed25519:..."]},
        {"name": "mine", "url": "/home/me/cards"}
    ]}

``url`` is an https URL (a static index) or an absolute folder path. ``keys`` are the trusted Ed25519 public
keys of a signed registry: when present, the registry's index must carry a signature by one of them.
The order of the list is the precedence, after the embedded registry (see ``_combined.py``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from deepinfer._exceptions import InputError, UsageError
from deepinfer._files import write_atomic
from deepinfer.registry._signing import parse_public_key

CONFIG_NAME = "registries.json"
EMBEDDED_NAME = "embedded"
REGISTRY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class RegistrySource:
    """One configured registry."""

    name: str
    url: str
    keys: tuple[str, ...] = field(default=())

    @property
    def signed(self) -> bool:
        return bool(self.keys)

    @property
    def remote(self) -> bool:
        return "://" in self.url

    def check(self) -> None:
        """UsageError unless the name is a slug other than ``embedded``, the url a URL or absolute path,
        and every key an Ed25519 public key."""
        if not REGISTRY_NAME.fullmatch(self.name) or self.name == EMBEDDED_NAME:
            raise UsageError(
                f"{self.name!r}: a registry name is 1-32 lowercase letters, digits, '-' or '_' "
                f"(and not {EMBEDDED_NAME!r})"
            )
        if not self.remote and not Path(self.url).is_absolute():
            raise UsageError(f"{self.url!r}: a registry is an https URL or an absolute folder path")
        if self.remote and (urlsplit(self.url).query or "#" in self.url):
            raise UsageError(f"{self.url!r}: a registry URL has no query string or fragment")
        for key in self.keys:
            parse_public_key(key)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"name": self.name, "url": self.url}
        if self.keys:
            document["keys"] = list(self.keys)
        return document


def config_path(home: Path) -> Path:
    return home / CONFIG_NAME


def load_sources(home: Path) -> list[RegistrySource]:
    """The configured registries in precedence order (none when the file is absent)."""
    path = config_path(home)
    if not path.is_file():
        return []
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
        sources = [_source(item) for item in document["registries"]]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise InputError(f"{path}: cannot read the registry settings ({error})") from None
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InputError(
            f"{path}: expected {{'registries': [{{'name': ..., 'url': ..., 'keys': [...]}}, ...]}}"
        ) from None
    for source in sources:
        try:
            source.check()
        except UsageError as error:
            raise InputError(f"{path}: {error}") from None
    return sources


def _source(item: Any) -> RegistrySource:
    keys = item.get("keys", [])
    if not (isinstance(item["name"], str) and isinstance(item["url"], str) and isinstance(keys, list)):
        raise TypeError("not a registry entry")
    if not all(isinstance(key, str) for key in keys):
        raise TypeError("keys must be strings")
    return RegistrySource(item["name"], item["url"], tuple(keys))


def save_sources(home: Path, sources: list[RegistrySource]) -> Path:
    path = config_path(home)
    text = json.dumps({"registries": [source.to_json() for source in sources]}, indent=2) + "\n"
    write_atomic(path, text.encode("utf-8"))
    return path


def add_source(home: Path, source: RegistrySource) -> None:
    source.check()
    sources = load_sources(home)
    if any(known.name == source.name for known in sources):
        raise UsageError(f"a registry named {source.name!r} exists; remove it first")
    save_sources(home, [*sources, source])


def remove_source(home: Path, name: str) -> RegistrySource:
    sources = load_sources(home)
    found = next((source for source in sources if source.name == name), None)
    if found is None:
        known = ", ".join(source.name for source in sources) or "none"
        raise UsageError(f"no registry named {name!r} (configured: {known})")
    save_sources(home, [source for source in sources if source.name != name])
    return found
