"""Summaries kept between runs (``<home>/card-summaries.json``): a card whose exact bytes were validated before
by the same card code is listed from its summary; anything else is validated, and the file is untrusted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from registry_helpers import card, write_card

from deepinfer import CardError
from deepinfer.card import CardSummary, parse_card
from deepinfer.registry import DirectoryRegistry, SummaryCache, write_index

SUMMARIES = "card-summaries.json"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    write_card(root, "liver.json", card("liver-ct", "1.0.0", anatomy="liver", modality="CT"))
    write_card(root, "brain.json", card("brain-extractor", "0.3.0", anatomy="brain", tags=["Skull-Stripping"]))
    write_index(root)
    return root


def listing(folder: Path, home: Path) -> tuple[list[CardSummary], DirectoryRegistry]:
    registry = DirectoryRegistry(folder, summaries=SummaryCache(home))
    return registry.summaries(), registry


def validated(registry: DirectoryRegistry) -> list[bool]:
    """For each loaded card: whether its whole card was built (validated) while loading."""
    return ["card" in vars(loaded) for loaded in registry.entries()]


def test_a_second_listing_takes_the_kept_summaries_and_validates_nothing(folder: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    first, registry = listing(folder, home)
    assert validated(registry) == [True, True]
    assert (home / SUMMARIES).is_file()

    second, registry = listing(folder, home)
    assert second == first
    assert validated(registry) == [False, False]
    # the whole card is still there, validated on first use
    assert registry.get("liver-ct").anatomy == "liver"
    assert validated(registry) == [False, True]


def test_summaries_are_what_the_cards_say(folder: Path, tmp_path: Path) -> None:
    summaries, _ = listing(folder, tmp_path / "home")
    liver = parse_card(json.loads((folder / "liver.json").read_text(encoding="utf-8")), "liver.json")
    assert summaries[1] == CardSummary.of(liver)
    assert summaries[1].to_json()["license"] == {"code": liver.license.code, "weights": liver.license.weights}
    assert [s.ref for s in DirectoryRegistry(folder).summaries("skull")] == ["brain-extractor@0.3.0"]


def test_without_a_home_nothing_is_kept(folder: Path, tmp_path: Path) -> None:
    registry = DirectoryRegistry(folder)
    registry.summaries()
    assert validated(registry) == [True, True]
    assert not any(path.name == SUMMARIES for path in tmp_path.rglob("*"))


def test_a_changed_card_is_validated_again_and_an_invalid_one_refused(folder: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    listing(folder, home)
    broken = card("liver-ct", "1.0.0")
    broken["license"] = "MIT"  # a license is an object with code and weights
    write_card(folder, "liver.json", broken)
    (folder / "index.json").unlink()  # no index: the folder's files, each validated unless its bytes are known
    with pytest.raises(CardError, match="license"):
        listing(folder, home)


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        json.dumps({"fingerprint": "0" * 64, "cards": {}}).encode(),
        b"{" * 100_000,
    ],
    ids=["not-json", "not-an-object", "another-fingerprint", "deeply-nested"],
)
def test_an_unreadable_or_foreign_file_is_ignored_and_rewritten(folder: Path, tmp_path: Path, content: bytes) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / SUMMARIES).write_bytes(content)
    summaries, registry = listing(folder, home)
    assert [s.id for s in summaries] == ["brain-extractor", "liver-ct"]
    assert validated(registry) == [True, True]
    assert listing(folder, home)[0] == summaries
    assert validated(listing(folder, home)[1]) == [False, False]


def test_a_tampered_summary_is_not_believed(folder: Path, tmp_path: Path) -> None:
    """Kept records are checked field by field: one of the wrong shape makes its card validate again."""
    home = tmp_path / "home"
    listing(folder, home)
    document = json.loads((home / SUMMARIES).read_text(encoding="utf-8"))
    for record in document["cards"].values():
        record["size"] = "huge"
    (home / SUMMARIES).write_text(json.dumps(document), encoding="utf-8")
    summaries, registry = listing(folder, home)
    assert validated(registry) == [True, True]
    assert all(isinstance(s.size, int) for s in summaries)


def test_another_deepinfer_validates_every_card_again(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import deepinfer

    home = tmp_path / "home"
    listing(folder, home)
    monkeypatch.setattr(deepinfer, "__version__", deepinfer.__version__ + "+other")
    assert validated(listing(folder, home)[1]) == [True, True]
