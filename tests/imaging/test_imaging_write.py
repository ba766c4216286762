"""Writing: the format follows the suffix, companion files travel with their header, and a failed write leaves
nothing behind (not even over an existing file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import SimpleITK as sitk

from deepinfer._exceptions import DeepInferError, UsageError
from deepinfer.imaging import Volume, read_volume, write_volume


def test_unsupported_suffix_is_a_usage_error(colin27_head: Volume, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"result\.png: cannot write a \.png file \(use \.nii\.gz"):
        write_volume(colin27_head, tmp_path / "result.png")
    with pytest.raises(UsageError, match="suffix-less"):
        write_volume(colin27_head, tmp_path / "result")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "compress", "expected"),
    [
        ("seg.mhd", True, {"seg.mhd", "seg.zraw"}),
        ("seg.mhd", False, {"seg.mhd", "seg.raw"}),
        ("seg.nhdr", True, {"seg.nhdr", "seg.raw.gz"}),
        ("seg.nrrd", True, {"seg.nrrd"}),
        ("seg.nii.gz", True, {"seg.nii.gz"}),
    ],
)
def test_written_files_and_nothing_else(
    colin27_head: Volume, tmp_path: Path, name: str, compress: bool, expected: set[str]
) -> None:
    write_volume(colin27_head, tmp_path / name, compress=compress)
    assert {p.name for p in tmp_path.iterdir()} == expected
    assert read_volume(tmp_path / name).geometry == colin27_head.geometry


def test_missing_parent_folders_are_created(colin27_head: Volume, tmp_path: Path) -> None:
    target = tmp_path / "results" / "case 1" / "seg.nrrd"
    write_volume(colin27_head, target)
    assert read_volume(target).geometry == colin27_head.geometry


def test_overwrite_replaces_the_file(colin27_head: Volume, colin27_volume: Volume, tmp_path: Path) -> None:
    target = tmp_path / "seg.mha"
    write_volume(colin27_volume, target)
    write_volume(colin27_head, target)
    assert read_volume(target).geometry == colin27_head.geometry
    assert [p.name for p in tmp_path.iterdir()] == ["seg.mha"]


@pytest.mark.parametrize("name", ["seg.nii.gz", "seg.mhd"])
def test_failed_write_leaves_nothing_half_written(
    colin27_head: Volume, colin27_volume: Volume, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The writer dies half-way (as on a full disk): the previous file is intact and no partial file is left."""
    target = tmp_path / name
    write_volume(colin27_head, target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_write = sitk.WriteImage

    def dies_half_way(image: Any, file_name: str, *args: Any) -> None:
        real_write(image, file_name, *args)
        Path(file_name).write_bytes(Path(file_name).read_bytes()[:100])
        raise RuntimeError("Exception thrown in SimpleITK ImageFileWriter_Execute: No space left on device")

    monkeypatch.setattr(sitk, "WriteImage", dies_half_way)
    with pytest.raises(DeepInferError, match=f"{name}: cannot write the image") as caught:
        write_volume(colin27_volume, target)
    assert "SimpleITK" not in str(caught.value)  # no internals in the message
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_unwritable_target_is_reported(colin27_head: Volume, tmp_path: Path) -> None:
    """A target whose parent is a file cannot be written: a clear error, and nothing created."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be\n")
    with pytest.raises(DeepInferError, match=r"seg\.nrrd: cannot write the image"):
        write_volume(colin27_head, blocker / "seg.nrrd")
    assert [p.name for p in tmp_path.iterdir()] == ["not-a-folder"]
