"""Signed registries: Ed25519 over the index (which pins every card), served by a real server on 127.0.0.1.

Acceptance: an index or a card changed by one byte after signing is refused, naming the registry and the card.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_http_helpers import flip_byte, http_registry, make_registry_folder, sign_folder

from deepinfer import FetchError, IntegrityError, UsageError
from deepinfer.registry import DirectoryRegistry, parse_public_key, write_private_key
from localhttp import StaticServer, drop_proxies, serve


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, str]:
    """A private key file and its public key text."""
    path = tmp_path / "publisher.pem"
    return path, write_private_key(path)


@pytest.fixture
def www(tmp_path: Path, key: tuple[Path, str]) -> Path:
    folder = make_registry_folder(tmp_path / "www", "a-model", "b-model")
    sign_folder(folder, key[0])
    return folder


@pytest.fixture
def server(www: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StaticServer]:
    drop_proxies(monkeypatch)
    with serve(www) as running:
        yield running


def test_a_signed_registry_loads(tmp_path: Path, server: StaticServer, key: tuple[Path, str]) -> None:
    registry = http_registry(tmp_path / "home", server, keys=(key[1],))
    assert [c.id for c in registry.list()] == ["a-model", "b-model"]
    assert server.count("/index.json.sig") == 1


@pytest.mark.parametrize("position", [0, 40, -3])
def test_an_index_changed_by_one_byte_is_refused(
    tmp_path: Path, server: StaticServer, www: Path, key: tuple[Path, str], position: int
) -> None:
    flip_byte(www / "index.json", position)
    with pytest.raises(IntegrityError, match=r"registry 'lab' \(.*index\.json\): the index signature does not"):
        http_registry(tmp_path / "home", server, keys=(key[1],)).list()
    assert not (tmp_path / "home" / "registries" / "lab" / "state.json").exists()


def test_a_card_changed_by_one_byte_is_refused_naming_registry_and_card(
    tmp_path: Path, server: StaticServer, www: Path, key: tuple[Path, str]
) -> None:
    flip_byte(www / "cards" / "b-model.json", 30)
    with pytest.raises(IntegrityError, match=r"registry 'lab': card cards/b-model\.json refused.*signed index"):
        http_registry(tmp_path / "home", server, keys=(key[1],)).list()


def test_an_unsigned_index_is_refused_by_a_signed_registry(
    tmp_path: Path, server: StaticServer, www: Path, key: tuple[Path, str]
) -> None:
    (www / "index.json.sig").unlink()
    with pytest.raises(FetchError, match=r"index\.json\.sig: HTTP 404"):
        http_registry(tmp_path / "home", server, keys=(key[1],)).list()


def test_a_signature_by_another_key_is_refused(tmp_path: Path, server: StaticServer, www: Path) -> None:
    other = write_private_key(tmp_path / "other.pem")
    with pytest.raises(IntegrityError, match="does not verify with the trusted key"):
        http_registry(tmp_path / "home", server, keys=(other,)).list()


def test_a_tampered_cached_copy_is_refused_offline(
    tmp_path: Path, www: Path, key: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    drop_proxies(monkeypatch)
    with serve(www) as server:
        http_registry(tmp_path / "home", server, keys=(key[1],)).list()
    state_path = tmp_path / "home" / "registries" / "lab" / "state.json"
    state = json.loads(state_path.read_text())
    state["index"] = state["index"][:-4] + ("AAA=" if not state["index"].endswith("AAA=") else "BBB=")
    state_path.write_text(json.dumps(state))
    with pytest.raises(IntegrityError, match="signature does not verify"):
        http_registry(tmp_path / "home", server, keys=(key[1],)).list()


def test_a_signed_local_folder(www: Path, key: tuple[Path, str]) -> None:
    assert len(DirectoryRegistry(www, keys=(key[1],), label="mine").list()) == 2
    flip_byte(www / "cards" / "a-model.json", 10)
    with pytest.raises(IntegrityError, match=r"registry 'mine': card .*a-model\.json refused"):
        DirectoryRegistry(www, keys=(key[1],), label="mine").list()


def test_a_signed_local_folder_needs_its_signature(www: Path, key: tuple[Path, str]) -> None:
    (www / "index.json.sig").unlink()
    with pytest.raises(IntegrityError, match="not signed"):
        DirectoryRegistry(www, keys=(key[1],), label="mine").list()


@pytest.mark.parametrize("text", ["ed25519:", "ed25519:AAAA", "rsa:AAAA", "ed25519:!!!!"])
def test_malformed_public_keys_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_public_key(text)


def test_key_files_are_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    write_private_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(UsageError, match="never overwritten"):
        write_private_key(path)
