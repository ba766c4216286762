"""Looking after the cache: entries, verify, prune (partials, strays, unused), and a symlink planted in it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from store_helpers import cache_listing, digest, make_artifact

from deepinfer import IntegrityError
from deepinfer.store import ArtifactStore
from deepinfer.store._lock import exclusive_lock

DATA = b"weights" * 100


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    folder = tmp_path / "card"
    folder.mkdir()
    (folder / "w.bin").write_bytes(DATA)
    (folder / "x.bin").write_bytes(DATA + b"x")
    store = ArtifactStore(tmp_path / "home")
    store.fetch(make_artifact(DATA, {"kind": "file", "path": "w.bin"}), folder)
    store.fetch(make_artifact(DATA + b"x", {"kind": "file", "path": "x.bin"}), folder)
    return store


def test_entries_list_the_artifacts(store: ArtifactStore) -> None:
    assert sorted(entry.sha256 for entry in store.entries()) == sorted([digest(DATA), digest(DATA + b"x")])
    assert {entry.size for entry in store.entries()} == {len(DATA), len(DATA) + 1}


def test_verify_finds_a_file_corrupted_on_disk(store: ArtifactStore) -> None:
    assert store.verify_all() == []
    path = store.root / digest(DATA)
    path.write_bytes(DATA[:-1] + b"!")
    assert store.verify_all() == [path]


def test_prune_removes_strays_but_not_a_partial_in_progress(store: ArtifactStore, tmp_path: Path) -> None:
    busy, idle = "a" * 64, "b" * 64
    (store.root / f".partial-{busy}-1").write_bytes(b"x")
    (store.root / f".partial-{idle}-1").write_bytes(b"x")
    (store.root / "not-a-hash").write_bytes(b"x")
    (store.root / ("c" * 64)).symlink_to(tmp_path / "card" / "w.bin")
    with exclusive_lock(store.locks / f"{busy}.lock"):
        removed = store.prune()
    assert sorted(path.name for path in removed) == sorted([f".partial-{idle}-1", "not-a-hash", "c" * 64])
    assert cache_listing(store) == sorted([f".partial-{busy}-1", digest(DATA), digest(DATA + b"x")])
    assert (tmp_path / "card" / "w.bin").read_bytes() == DATA, "the symlink's target is untouched"


def test_prune_unused_keeps_only_what_is_named(store: ArtifactStore) -> None:
    assert store.prune({digest(DATA)}, dry_run=True) == [store.root / digest(DATA + b"x")]
    assert len(store.entries()) == 2
    store.prune({digest(DATA)})
    assert [entry.sha256 for entry in store.entries()] == [digest(DATA)]


def test_a_symlink_planted_in_the_cache_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"secret" * 10)
    artifact = make_artifact(b"secret" * 10, {"kind": "file", "path": "w.bin"})
    os.symlink(outside, store.path_for(artifact))
    with pytest.raises(IntegrityError, match="is a symbolic link; refused"):
        store.fetch(artifact, tmp_path / "card")
