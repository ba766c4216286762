"""The containment helpers every path from outside goes through."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepinfer.store import check_relative, resolve_inside


@pytest.mark.parametrize("name", ["", "/abs", "a/../b", "..", "C:/x", "a\\b", "nul\x00"])
def test_check_relative_refuses(name: str) -> None:
    with pytest.raises(ValueError):
        check_relative(name)


def test_check_relative_accepts_plain_paths() -> None:
    assert str(check_relative("cards/a.json")) == "cards/a.json"
    assert str(check_relative("./cards//a.json")) == "cards/a.json"


def test_resolve_inside(tmp_path: Path) -> None:
    (tmp_path / "base" / "sub").mkdir(parents=True)
    (tmp_path / "base" / "sub" / "f").write_text("x")
    (tmp_path / "base" / "up").symlink_to(tmp_path)
    root = tmp_path / "base"
    assert resolve_inside(root, "sub/f") == (root / "sub" / "f").resolve()
    with pytest.raises(ValueError, match="symlinks"):
        resolve_inside(root, "up/base/sub/f")
    with pytest.raises(ValueError, match=r"'\.\.'"):
        resolve_inside(root, "../base/sub/f")


def test_a_symlinked_root_is_fine(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert resolve_inside(tmp_path / "alias", "f") == (tmp_path / "real" / "f").resolve()
