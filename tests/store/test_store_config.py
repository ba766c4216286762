"""DEEPINFER_HOME, config.json and DEEPINFER_ALLOWED_HOSTS."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepinfer import InputError
from deepinfer._config import DEFAULT_ALLOWED_HOSTS, Settings, deepinfer_home


def test_home_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPINFER_HOME", str(tmp_path))
    assert deepinfer_home() == tmp_path
    monkeypatch.delenv("DEEPINFER_HOME")
    assert deepinfer_home().name == "deepinfer"


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPINFER_ALLOWED_HOSTS", raising=False)
    settings = Settings.load(tmp_path)
    assert settings.allowed_hosts == DEFAULT_ALLOWED_HOSTS
    assert not settings.allow_http_loopback


def test_the_file_then_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPINFER_ALLOWED_HOSTS", raising=False)
    (tmp_path / "config.json").write_text('{"allowed_hosts": ["Models.Example.org"], "allow_http_loopback": true}')
    assert Settings.load(tmp_path) == Settings(allowed_hosts=("models.example.org",))
    monkeypatch.setenv("DEEPINFER_ALLOWED_HOSTS", "a.example, b.example,")
    assert Settings.load(tmp_path).allowed_hosts == ("a.example", "b.example")


@pytest.mark.parametrize("text", ["{", "[]", '{"allowed_hosts": "github.com"}', '{"allowed_hosts": [1]}'])
def test_a_bad_file_is_named(tmp_path: Path, text: str) -> None:
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(InputError, match=r"config\.json"):
        Settings.load(tmp_path)
