"""The cache itself with file sources: verification, atomic placement, nothing left behind, containment."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_helpers import cache_listing, digest, make_artifact

from deepinfer import FetchError, IntegrityError
from deepinfer.store import ArtifactStore, sha256_file

DATA = bytes(range(256)) * 40


@pytest.fixture
def card_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "card"
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "model.bin").write_bytes(DATA)
    return folder


def test_fetch_copies_verified_bytes_to_their_content_address(tmp_path: Path, card_dir: Path) -> None:
    store = ArtifactStore(tmp_path)
    artifact = make_artifact(DATA, {"kind": "file", "path": "weights/model.bin"})
    path = store.fetch(artifact, card_dir)
    assert path == tmp_path / "artifacts" / "sha256" / digest(DATA)
    assert path.read_bytes() == DATA
    assert cache_listing(store) == [digest(DATA)]
    assert store.cached_path(artifact) == path


def test_a_cached_artifact_is_not_read_again(tmp_path: Path, card_dir: Path) -> None:
    store = ArtifactStore(tmp_path)
    artifact = make_artifact(DATA, {"kind": "file", "path": "weights/model.bin"})
    first = store.fetch(artifact, card_dir)
    (card_dir / "weights" / "model.bin").unlink()
    assert store.fetch(artifact, card_dir) == first


def test_progress_reports_bytes_done_of_the_card_size(tmp_path: Path, card_dir: Path) -> None:
    calls: list[tuple[int, int]] = []
    artifact = make_artifact(DATA, {"kind": "file", "path": "weights/model.bin"})
    ArtifactStore(tmp_path).fetch(artifact, card_dir, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (len(DATA), len(DATA))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_the_final_name_appears_only_after_verification(tmp_path: Path, card_dir: Path) -> None:
    store = ArtifactStore(tmp_path)
    artifact = make_artifact(DATA, {"kind": "file", "path": "weights/model.bin"})
    seen: list[list[str]] = []
    store.fetch(artifact, card_dir, progress=lambda done, total: seen.append(cache_listing(store)))
    assert seen, "no progress was reported"
    for listing in seen:
        assert digest(DATA) not in listing
        assert len(listing) == 1 and listing[0].startswith(".partial-")
    assert cache_listing(store) == [digest(DATA)]


def test_wrong_sha256_raises_with_both_hashes_and_leaves_nothing(tmp_path: Path, card_dir: Path) -> None:
    store = ArtifactStore(tmp_path)
    wrong = "0" * 64
    artifact = make_artifact(DATA, {"kind": "file", "path": "weights/model.bin"}, sha256=wrong)
    with pytest.raises(IntegrityError) as raised:
        store.fetch(artifact, card_dir)
    message = str(raised.value)
    assert "'weights'" in message and wrong in message and digest(DATA) in message
    assert raised.value.exit_code == 4
    assert cache_listing(store) == []
    assert store.cached_path(artifact) is None


@pytest.mark.parametrize("size", [len(DATA) + 1, len(DATA) - 1, 0])
def test_wrong_size_raises_and_leaves_nothing(tmp_path: Path, card_dir: Path, size: int) -> None:
    store = ArtifactStore(tmp_path)
    artifact = make_artifact(DATA, {"kind": "file", "path": "weights/model.bin"}, size=size)
    with pytest.raises(IntegrityError, match=str(size)):
        store.fetch(artifact, card_dir)
    assert cache_listing(store) == []


def test_an_interrupted_copy_leaves_nothing(tmp_path: Path, card_dir: Path) -> None:
    store = ArtifactStore(tmp_path)
    artifact = make_artifact(DATA, {"kind": "file", "path": "weights/model.bin"})

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.fetch(artifact, card_dir, progress=interrupt)
    assert cache_listing(store) == []


def test_cached_path_checks_size_and_on_request_the_hash(tmp_path: Path, card_dir: Path) -> None:
    store = ArtifactStore(tmp_path)
    artifact = make_artifact(DATA, {"kind": "file", "path": "weights/model.bin"})
    assert store.cached_path(artifact) is None
    path = store.fetch(artifact, card_dir)
    path.write_bytes(bytes(len(DATA)))  # same size, other content
    assert store.cached_path(artifact) == path
    assert store.cached_path(artifact, verify=True) is None
    assert store.verify_all() == [path]
    assert store.fetch(artifact, card_dir, verify=True).read_bytes() == DATA
    assert store.verify_all() == []
    path.write_bytes(DATA[:-1])
    assert store.cached_path(artifact) is None


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(DATA * 300)
    assert sha256_file(path) == digest(DATA * 300)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../outside.bin", "'..'"),
        ("weights/../../outside.bin", "'..'"),
        ("/etc/hostname", "absolute"),
        ("weights\\model.bin", "plain relative"),
    ],
)
def test_file_paths_must_stay_inside_the_card_folder(tmp_path: Path, card_dir: Path, path: str, reason: str) -> None:
    (card_dir.parent / "outside.bin").write_bytes(DATA)
    artifact = make_artifact(DATA, {"kind": "file", "path": path})
    with pytest.raises(FetchError, match=reason):
        ArtifactStore(tmp_path).fetch(artifact, card_dir)


def test_symlinked_files_and_folders_are_refused(tmp_path: Path, card_dir: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "model.bin").write_bytes(DATA)
    (card_dir / "link.bin").symlink_to(outside / "model.bin")
    (card_dir / "linked").symlink_to(outside)
    (card_dir / "inner.bin").symlink_to(card_dir / "weights" / "model.bin")
    store = ArtifactStore(tmp_path)
    for path in ("link.bin", "linked/model.bin", "inner.bin"):
        with pytest.raises(FetchError, match="symlinks are refused"):
            store.fetch(make_artifact(DATA, {"kind": "file", "path": path}), card_dir)
    assert cache_listing(store) == []


def test_file_sources_need_the_card_folder(tmp_path: Path) -> None:
    artifact = make_artifact(DATA, {"kind": "file", "path": "weights/model.bin"})
    with pytest.raises(FetchError, match="only a card with a folder"):
        ArtifactStore(tmp_path).fetch(artifact, None)


def test_a_missing_file_is_a_fetch_error_naming_the_artifact(tmp_path: Path, card_dir: Path) -> None:
    artifact = make_artifact(DATA, {"kind": "file", "path": "weights/absent.bin"})
    with pytest.raises(FetchError, match=r"artifact 'weights'.*absent\.bin"):
        ArtifactStore(tmp_path).fetch(artifact, card_dir)


def test_the_home_defaults_to_deepinfer_home(deepinfer_home: Path) -> None:
    assert ArtifactStore().root == deepinfer_home / "artifacts" / "sha256"
