"""Helpers of the HTTP and signed registry tests: a registry folder to serve, signing, an HttpRegistry on it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from registry_helpers import card, write_card

from deepinfer.registry import HttpRegistry, RegistrySource, load_private_key, sign_index, write_index
from deepinfer.store import UrllibTransport
from localhttp import StaticServer, loopback_settings


def make_registry_folder(folder: Path, *ids: str) -> Path:
    """A folder with one card per id under ``cards/`` and its index."""
    for card_id in ids:
        write_card(folder, f"cards/{card_id}.json", card(card_id))
    write_index(folder)
    return folder


def sign_folder(folder: Path, key: Path) -> Path:
    signature = folder / "index.json.sig"
    signature.write_bytes(sign_index((folder / "index.json").read_bytes(), load_private_key(key)))
    return signature


def flip_byte(path: Path, position: int) -> None:
    """Change one byte of a file (the lowest bit of the byte at ``position``; negative counts from the end)."""
    data = bytearray(path.read_bytes())
    data[position] ^= 1
    path.write_bytes(bytes(data))


def http_registry(
    home: Path,
    server: StaticServer,
    *,
    keys: tuple[str, ...] = (),
    name: str = "lab",
    fresh_for: float = 0.0,
    clock: Callable[[], float] = time.time,
    path: str = "/",
) -> HttpRegistry:
    """The real HTTP registry (real urllib transport) on the server, over loopback http."""
    source = RegistrySource(name, server.url + path, keys)
    return HttpRegistry(
        source, home, loopback_settings(), UrllibTransport(timeout=10), fresh_for=fresh_for, clock=clock
    )
