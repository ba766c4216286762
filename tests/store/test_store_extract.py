"""Safe extraction of good archives (tar.gz, zip) and of archive artifacts; the hostile ones are in the corpus
(tests/security)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from store_helpers import make_artifact

from deepinfer import FetchError
from deepinfer.store import ArtifactStore, ExtractLimits, extract_archive


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        folder = tarfile.TarInfo("./")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_tar_gz_extracts_into_a_new_folder(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "m.tar.gz", {"model/net.onnx": b"onnx", "./README": b"hi"})
    written = extract_archive(archive, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == ["README", "model/net.onnx"]
    assert (tmp_path / "out" / "model" / "net.onnx").read_bytes() == b"onnx"


def test_a_zip_extracts(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "m.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a/", "")
        archive.writestr("a/b.txt", "b")
    extract_archive(tmp_path / "m.zip", tmp_path / "out")
    assert (tmp_path / "out" / "a" / "b.txt").read_text() == "b"


def test_an_existing_target_is_never_written_into(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "m.tar.gz", {"x": b"x"})
    (tmp_path / "out").mkdir()
    with pytest.raises(FetchError, match="already exists"):
        extract_archive(archive, tmp_path / "out")


def test_a_refused_member_leaves_nothing(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "m.tar.gz", {"good": b"g" * 10, "big": b"b" * 100})
    with pytest.raises(FetchError, match="'big' refused"):
        extract_archive(archive, tmp_path / "out", ExtractLimits(max_member_bytes=50))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tar.gz"]


def test_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"plain bytes")
    with pytest.raises(FetchError, match="not a tar or zip archive"):
        extract_archive(tmp_path / "x.bin", tmp_path / "out")


def test_an_archive_artifact_is_unpacked_once(tmp_path: Path) -> None:
    folder = tmp_path / "card"
    folder.mkdir()
    archive = _tar(folder / "m.tar.gz", {"net.onnx": b"onnx"})
    artifact = make_artifact(archive.read_bytes(), {"kind": "file", "path": "m.tar.gz"})
    store = ArtifactStore(tmp_path / "home")
    unpacked = store.unpacked(artifact, folder)
    assert unpacked == store.unpacked_root / artifact.sha256
    assert (unpacked / "net.onnx").read_bytes() == b"onnx"
    assert store.unpacked(artifact, folder) == unpacked
