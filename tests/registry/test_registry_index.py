"""Indexed folders (cards pinned by sha256), build_index, and the embedded registry."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from registry_helpers import card, write_card

from deepinfer import CardError, IntegrityError
from deepinfer.registry import (
    DirectoryRegistry,
    EmbeddedRegistry,
    build_index,
    default_registry,
    embedded_registry_path,
    read_index,
    write_index,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    write_card(root, "cards/b-model.json", card("b-model", "0.2.0"))
    write_card(root, "cards/a-model-1.json", card("a-model", "1.0.0"))
    write_card(root, "cards/a-model-2.json", card("a-model", "1.2.0"))
    write_index(root)
    return root


def index_of(folder: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    return document


def write_index_document(folder: Path, document: dict[str, Any]) -> None:
    (folder / "index.json").write_text(json.dumps(document), encoding="utf-8")


def test_build_index_lists_each_card_with_the_sha256_of_its_file(folder: Path) -> None:
    index = build_index(folder)
    assert index["schema_version"] == "2.0"
    assert [(e["id"], e["version"], e["path"]) for e in index["cards"]] == [
        ("a-model", "1.0.0", "cards/a-model-1.json"),
        ("a-model", "1.2.0", "cards/a-model-2.json"),
        ("b-model", "0.2.0", "cards/b-model.json"),
    ]
    for entry in index["cards"]:
        assert entry["sha256"] == hashlib.sha256((folder / entry["path"]).read_bytes()).hexdigest()
    assert index_of(folder) == index


def test_an_indexed_folder_loads_only_what_the_index_lists(folder: Path) -> None:
    write_card(folder, "cards/unlisted.json", card("unlisted"))
    registry = DirectoryRegistry(folder)
    assert [c.ref for c in registry.list()] == ["a-model@1.2.0", "b-model@0.2.0"]
    assert registry.find("a-model").folder == (folder / "cards").resolve()


def test_a_card_changed_after_indexing_is_refused(folder: Path) -> None:
    path = folder / "cards" / "b-model.json"
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    write_card(folder, "cards/b-model.json", card("b-model", "0.2.0", description="tampered"))
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(IntegrityError) as raised:
        DirectoryRegistry(folder).list()
    message = str(raised.value)
    assert str(path) in message and expected in message and actual in message


@pytest.mark.parametrize("escape", ["../outside.json", "/etc/hostname", "cards/../../outside.json"])
def test_index_paths_must_stay_inside_the_folder(folder: Path, escape: str) -> None:
    outside = write_card(folder.parent, "outside.json", card("outside"))
    document = index_of(folder)
    sha = hashlib.sha256(outside.read_bytes()).hexdigest()
    document["cards"].append({"id": "outside", "version": "1.0.0", "path": escape, "sha256": sha})
    write_index_document(folder, document)
    with pytest.raises(CardError, match=re.escape(str(folder / "index.json"))) as raised:
        DirectoryRegistry(folder).list()
    assert raised.value.problems[0].path == "$.cards[3].path"


def test_an_entry_must_announce_the_card_it_points_at(folder: Path) -> None:
    document = index_of(folder)
    document["cards"][2]["version"] = "0.3.0"
    write_index_document(folder, document)
    with pytest.raises(CardError, match=r"lists b-model@0\.3\.0, the file holds b-model@0\.2\.0"):
        DirectoryRegistry(folder).list()


ENTRY = {"id": "a", "version": "1.0.0", "path": "a.json", "sha256": "a" * 64}


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"schema_version": "1.0", "cards": []}, "$.schema_version"),
        ({"schema_version": "2.0"}, "$"),
        ({"schema_version": "2.0", "cards": [{"id": "a"}]}, "$.cards[0].version"),
        ({"schema_version": "2.0", "cards": ["a"]}, "$.cards[0]"),
        ({"schema_version": "2.0", "cards": [{**ENTRY, "sha256": "A" * 64}]}, "$.cards[0].sha256"),
    ],
)
def test_a_malformed_index_is_reported(tmp_path: Path, document: dict[str, Any], where: str) -> None:
    write_index_document(tmp_path, document)
    with pytest.raises(CardError) as raised:
        read_index(tmp_path / "index.json")
    assert where in [problem.path for problem in raised.value.problems]
    assert raised.value.source == str(tmp_path / "index.json")


def test_the_embedded_index_is_up_to_date() -> None:
    folder = embedded_registry_path()
    assert index_of(folder) == build_index(folder), "regenerate it with deepinfer.registry.write_index"


def test_the_embedded_registry_loads(tmp_path: Path) -> None:
    registry = default_registry(tmp_path)
    assert [name for name, _ in registry.members] == ["embedded"]
    assert isinstance(registry.member("embedded"), EmbeddedRegistry)
    for model in registry.list():
        assert registry.get(model.ref) == model
        assert registry.find(model.ref).folder is not None
