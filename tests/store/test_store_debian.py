"""Files installed by Debian packages, read in place (Colin27 from mricron-data)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from store_helpers import cache_listing, make_artifact

from deepinfer import FetchError
from deepinfer.card import Artifact
from deepinfer.store import ArtifactStore


def debian_artifact(path: str, package: str = "mricron-data", data: bytes = b"") -> Artifact:
    return make_artifact(data, {"kind": "debian", "package": package, "path": path})


def test_colin27_from_its_debian_package(tmp_path: Path, colin27: Path) -> None:
    expected = hashlib.sha256(colin27.read_bytes()).hexdigest()
    artifact = debian_artifact(str(colin27)).model_copy(update={"sha256": expected, "size": colin27.stat().st_size})
    path = ArtifactStore(tmp_path).fetch(artifact)
    assert path.name == expected
    assert path.read_bytes() == colin27.read_bytes()


def test_a_missing_file_says_which_package_to_install(tmp_path: Path) -> None:
    artifact = debian_artifact("/usr/share/deepinfer-test-absent/t1.nii.gz", package="deepinfer-absent")
    with pytest.raises(FetchError, match="apt-get install deepinfer-absent"):
        ArtifactStore(tmp_path).fetch(artifact)


@pytest.mark.parametrize("path", ["/etc/hostname", "/usr/share/../../etc/hostname", "usr/share/doc", "/usr/shared/x"])
def test_only_files_under_usr_share_are_read(tmp_path: Path, path: str) -> None:
    store = ArtifactStore(tmp_path)
    with pytest.raises(FetchError, match="must lie under /usr/share/"):
        store.fetch(debian_artifact(path))
    assert cache_listing(store) == []
