"""Lookup by id and id@version, latest-version rules, suggestions and search over a folder of cards."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from registry_helpers import card, write_card

from deepinfer import CardError, InputError, ModelNotFoundError
from deepinfer.registry import DirectoryRegistry, LoadedCard, version_key


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    write_card(root, "prostate-seg-1.9.0.json", card("prostate-seg", "1.9.0"))
    write_card(root, "prostate-seg-1.10.0.json", card("prostate-seg", "1.10.0"))
    write_card(root, "prostate-seg-2.0.0-rc.1.json", card("prostate-seg", "2.0.0-rc.1"))
    brain = card("brain-extractor", "0.3.0", anatomy="brain", modality="MR T1", tags=["Skull-Stripping"])
    write_card(root, "nested/brain.json", brain)
    write_card(root, "liver.json", card("liver-ct", "1.0.0", anatomy="liver", modality="CT", task="segmentation"))
    return root


def test_list_gives_the_latest_version_of_each_id(folder: Path) -> None:
    cards = DirectoryRegistry(folder).list()
    assert [c.ref for c in cards] == ["brain-extractor@0.3.0", "liver-ct@1.0.0", "prostate-seg@2.0.0-rc.1"]


def test_get_by_id_is_the_latest_semver_and_by_version_is_exact(folder: Path) -> None:
    registry = DirectoryRegistry(folder)
    assert registry.get("prostate-seg").version == "2.0.0-rc.1"
    assert registry.get("prostate-seg@1.9.0").version == "1.9.0"
    assert [c.version for c in registry.versions("prostate-seg")] == ["1.9.0", "1.10.0", "2.0.0-rc.1"]
    assert registry.versions("absent") == []


def test_an_unknown_id_suggests_close_ones(folder: Path) -> None:
    registry = DirectoryRegistry(folder)
    with pytest.raises(ModelNotFoundError, match="did you mean: prostate-seg") as raised:
        registry.get("prostate-sge")
    assert raised.value.exit_code == 2
    with pytest.raises(ModelNotFoundError, match="did you mean: brain-extractor"):
        registry.get("brain")
    with pytest.raises(ModelNotFoundError) as unrelated:
        registry.get("zzzz")
    assert "did you mean" not in str(unrelated.value)


def test_an_unknown_version_lists_the_available_ones(folder: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"no version '3\.0\.0'.*1\.9\.0, 1\.10\.0, 2\.0\.0-rc\.1"):
        DirectoryRegistry(folder).get("prostate-seg@3.0.0")


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("prostate", ["prostate-seg"]),
        ("MR", ["brain-extractor", "prostate-seg"]),
        ("mr brain", ["brain-extractor"]),
        ("skull-stripping", ["brain-extractor"]),
        ("t1 SEGMENTATION", ["brain-extractor"]),
        ("ct liver", ["liver-ct"]),
        ("brain liver", []),
        ("", ["brain-extractor", "liver-ct", "prostate-seg"]),
    ],
)
def test_search_needs_every_word(folder: Path, query: str, ids: list[str]) -> None:
    assert [c.id for c in DirectoryRegistry(folder).search(query)] == ids


def test_find_gives_the_card_with_the_folder_of_its_file(folder: Path) -> None:
    registry = DirectoryRegistry(folder)
    assert registry.find("brain-extractor").folder == (folder / "nested").resolve()
    found = registry.find("liver-ct")
    assert found.folder == folder.resolve() and found.card == registry.get("liver-ct")


def test_cards_are_loaded_once_per_instance(folder: Path) -> None:
    calls = []

    class Counting(DirectoryRegistry):
        def _load(self) -> list[LoadedCard]:
            calls.append(1)
            return super()._load()

    registry = Counting(folder)
    registry.list()
    registry.get("liver-ct")
    registry.search("brain")
    assert len(calls) == 1


def test_an_invalid_card_is_named(folder: Path) -> None:
    bad = write_card(folder, "bad.json", card("bad-card", version="one"))
    with pytest.raises(CardError, match=re.escape(str(bad))) as raised:
        DirectoryRegistry(folder).list()
    assert raised.value.problems[0].path == "$.version"


def test_a_card_that_is_not_json_is_named(folder: Path) -> None:
    (folder / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(CardError, match=r"broken\.json"):
        DirectoryRegistry(folder).list()


def test_the_same_version_twice_is_refused(folder: Path) -> None:
    write_card(folder, "copy.json", card("liver-ct", "1.0.0"))
    with pytest.raises(CardError, match=r"liver-ct@1\.0\.0 is also defined in"):
        DirectoryRegistry(folder).list()


def test_a_symlinked_card_is_refused(folder: Path, tmp_path: Path) -> None:
    outside = write_card(tmp_path, "outside.json", card("outside"))
    (folder / "link.json").symlink_to(outside)
    with pytest.raises(CardError, match="symlinks are refused"):
        DirectoryRegistry(folder).list()


def test_a_missing_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such registry folder"):
        DirectoryRegistry(tmp_path / "absent").list()


def test_version_key_follows_semver_precedence() -> None:
    ordered = ["0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11"]
    ordered += ["1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"]
    assert sorted(reversed(ordered), key=version_key) == ordered
    assert version_key("1.0.0+build.5") == version_key("1.0.0")
