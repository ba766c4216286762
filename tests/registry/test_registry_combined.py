"""Several registries at once: the settings file, precedence, qualified ids, and what a broken member does."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from registry_helpers import card, write_card
from registry_http_helpers import flip_byte, make_registry_folder

from deepinfer import CardError, InputError, IntegrityError, ModelNotFoundError, UsageError
from deepinfer.registry import (
    DirectoryRegistry,
    RegistrySource,
    add_source,
    default_registry,
    load_sources,
    remove_source,
)


def test_sources_are_added_in_order_saved_and_removed(tmp_path: Path) -> None:
    add_source(tmp_path, RegistrySource("lab", "https://models.example.org/reg/"))
    add_source(tmp_path, RegistrySource("mine", str(tmp_path / "cards")))
    assert [s.name for s in load_sources(tmp_path)] == ["lab", "mine"]
    assert json.loads((tmp_path / "registries.json").read_text())["registries"][0]["name"] == "lab"
    with pytest.raises(UsageError, match="exists"):
        add_source(tmp_path, RegistrySource("lab", "https://other.example.org/"))
    assert remove_source(tmp_path, "lab").url == "https://models.example.org/reg/"
    assert [s.name for s in load_sources(tmp_path)] == ["mine"]
    with pytest.raises(UsageError, match="no registry named 'lab'"):
        remove_source(tmp_path, "lab")


@pytest.mark.parametrize(
    "source",
    [
        RegistrySource("embedded", "https://x.example.org/"),
        RegistrySource("Bad Name", "https://x.example.org/"),
        RegistrySource("../up", "https://x.example.org/"),
        RegistrySource("rel", "relative/folder"),
        RegistrySource("query", "https://x.example.org/?a=1"),
        RegistrySource("key", "https://x.example.org/", ("ed25519:nope",)),
    ],
)
def test_bad_sources_are_refused(tmp_path: Path, source: RegistrySource) -> None:
    with pytest.raises(UsageError):
        add_source(tmp_path, source)
    assert not (tmp_path / "registries.json").exists()


@pytest.mark.parametrize("text", ["[1, 2]", '{"registries": [{"name": 3}]}', "{nope", '{"registries": ["x"]}'])
def test_a_malformed_settings_file_is_an_input_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "registries.json").write_text(text)
    with pytest.raises(InputError, match=r"registries\.json"):
        load_sources(tmp_path)


def _configure(home: Path, name: str, folder: Path) -> None:
    add_source(home, RegistrySource(name, str(folder)))


def test_the_embedded_registry_comes_first_and_owns_its_ids(tmp_path: Path) -> None:
    folder = make_registry_folder(tmp_path / "mine", "own-model")
    write_card(folder, "cards/taps.json", card("prostate-taps", "9.0.0"))
    (folder / "index.json").unlink()
    _configure(tmp_path / "home", "mine", folder)
    registry = default_registry(tmp_path / "home")
    assert [name for name, _ in registry.members] == ["embedded", "mine"]
    assert registry.get("prostate-taps").version != "9.0.0", "a later registry cannot replace an earlier model"
    assert registry.shadowed == ["prostate-taps@9.0.0 from mine (the id belongs to embedded)"]
    assert registry.get("own-model").id == "own-model"
    assert registry.find("own-model").folder == (folder / "cards").resolve()


def test_a_qualified_id_picks_one_registry(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    write_card(folder, "taps.json", card("prostate-taps", "9.0.0"))
    _configure(tmp_path / "home", "mine", folder)
    registry = default_registry(tmp_path / "home")
    chosen = registry.find("mine:prostate-taps@9.0.0")
    assert chosen.card.version == "9.0.0" and registry.get("mine:prostate-taps@9.0.0") == chosen.card
    assert chosen.folder == folder.resolve()
    assert registry.find("prostate-taps").folder != folder.resolve()
    with pytest.raises(ModelNotFoundError, match="no registry named 'nope'"):
        registry.get("nope:prostate-taps")


def test_a_missing_folder_is_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = make_registry_folder(tmp_path / "mine", "own-model")
    _configure(tmp_path / "home", "mine", folder)
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    folder.rmdir()
    registry = default_registry(tmp_path / "home")
    with caplog.at_level(logging.WARNING, logger="deepinfer.registry"):
        assert "prostate-taps" in [c.id for c in registry.list()]
    assert "registry 'mine' skipped" in caplog.text
    assert registry.unavailable and registry.unavailable[0].startswith("mine:")


def test_a_tampered_member_stops_everything_naming_it(tmp_path: Path) -> None:
    folder = make_registry_folder(tmp_path / "mine", "own-model")
    _configure(tmp_path / "home", "mine", folder)
    flip_byte(folder / "cards" / "own-model.json", 20)
    with pytest.raises(IntegrityError, match=r"registry 'mine': card .*own-model\.json refused"):
        default_registry(tmp_path / "home").list()


def test_an_invalid_card_names_its_file(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    write_card(folder, "bad.json", card("bad-model", task="painting"))
    _configure(tmp_path / "home", "mine", folder)
    with pytest.raises(CardError, match=r"bad\.json"):
        default_registry(tmp_path / "home").list()


def test_a_folder_of_2017_files_is_a_registry(tmp_path: Path, legacy_registry: Path) -> None:
    legacy = DirectoryRegistry(legacy_registry, label="deepinfer-2017")
    assert len(legacy.list()) == 10
    _configure(tmp_path / "home", "deepinfer-2017", legacy_registry)
    registry = default_registry(tmp_path / "home")
    found = registry.search("prostate")
    assert {"prostate-taps", "prostate-gland-segmenter"} <= {c.id for c in found}
    assert registry.get("prostate-gland-segmenter").runtime.type == "container"
