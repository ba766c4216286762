"""Static https registries, served here by a real HTTP server on 127.0.0.1 through the real urllib transport.

Only the scheme rule is relaxed (``Settings.allow_http_loopback``, a test-only flag); conditional requests,
the offline copy, redirects and the card checks are the production ones.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_helpers import card, write_card
from registry_http_helpers import http_registry, make_registry_folder

from deepinfer import CardError, FetchError
from deepinfer.registry import build_index, write_index
from localhttp import StaticServer, drop_proxies, serve


@pytest.fixture
def www(tmp_path: Path) -> Path:
    return make_registry_folder(tmp_path / "www", "a-model", "b-model")


@pytest.fixture
def server(www: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StaticServer]:
    drop_proxies(monkeypatch)
    with serve(www) as running:
        yield running


def test_cards_load_from_the_index_and_have_no_folder(tmp_path: Path, server: StaticServer) -> None:
    registry = http_registry(tmp_path / "home", server)
    assert [c.ref for c in registry.list()] == ["a-model@1.0.0", "b-model@1.0.0"]
    assert registry.find("a-model").folder is None  # no file sources from a remote index
    assert registry.status == "updated"
    cached = sorted(p.name for p in (tmp_path / "home" / "registries" / "lab" / "cards").iterdir())
    assert len(cached) == 2


def test_the_registry_url_may_name_the_index_itself(tmp_path: Path, server: StaticServer) -> None:
    registry = http_registry(tmp_path / "home", server, path="/index.json")
    assert len(registry.list()) == 2


def test_a_second_load_is_a_conditional_request_answered_304(tmp_path: Path, server: StaticServer) -> None:
    http_registry(tmp_path / "home", server).list()
    again = http_registry(tmp_path / "home", server)
    assert len(again.list()) == 2
    assert again.status == "up to date (not modified)"
    assert server.conditional == ["/index.json"]
    assert server.count("/index.json", 304) == 1
    assert server.count("/cards/a-model.json") == 1, "a cached card is not fetched again"


def test_a_fresh_copy_is_used_without_asking(tmp_path: Path, server: StaticServer) -> None:
    http_registry(tmp_path / "home", server).list()
    again = http_registry(tmp_path / "home", server, fresh_for=600)
    assert len(again.list()) == 2
    assert again.status.startswith("cached copy, confirmed")
    assert len(server.requests) == 3  # index and two cards, once


def test_refresh_picks_up_a_new_card(tmp_path: Path, server: StaticServer, www: Path) -> None:
    registry = http_registry(tmp_path / "home", server, fresh_for=600)
    registry.list()
    write_card(www, "cards/c-model.json", card("c-model"))
    write_index(www)
    assert [c.id for c in registry.refresh()] == ["a-model", "b-model", "c-model"]
    assert registry.status == "updated"


def test_offline_the_last_good_copy_is_used_and_its_age_said(
    tmp_path: Path, www: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    drop_proxies(monkeypatch)
    with serve(www) as server:
        http_registry(tmp_path / "home", server).list()
    later = time.time() + 3 * 3600 + 60
    offline = http_registry(tmp_path / "home", server, clock=lambda: later)
    with caplog.at_level(logging.WARNING, logger="deepinfer.registry"):
        assert len(offline.list()) == 2
    assert offline.status.startswith("offline, using the copy last confirmed 3 hours ago")
    assert "registry 'lab' is unreachable" in caplog.text and "3 hours ago" in caplog.text


def test_offline_with_no_copy_is_a_fetch_error_naming_the_registry(
    tmp_path: Path, www: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop_proxies(monkeypatch)
    with serve(www) as server:
        pass
    with pytest.raises(FetchError, match=r"registry 'lab': .*cannot connect.*no copy is cached"):
        http_registry(tmp_path / "home", server).list()


def test_a_copy_of_another_url_is_not_used(tmp_path: Path, www: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drop_proxies(monkeypatch)
    with serve(www) as first:
        http_registry(tmp_path / "home", first).list()
    with serve(www) as second, pytest.raises(FetchError, match="no copy is cached"):
        http_registry(tmp_path / "home", second, path="/elsewhere/").list()


def test_an_index_listing_another_id_than_its_card_is_refused(tmp_path: Path, server: StaticServer, www: Path) -> None:
    document = build_index(www)
    document["cards"][0]["id"] = "z-model"
    (www / "index.json").write_text(json.dumps(document))
    with pytest.raises(CardError, match=r"the index lists z-model@1\.0\.0"):
        http_registry(tmp_path / "home", server).list()


def test_a_2017_registry_folder_is_served_as_is(
    tmp_path: Path, legacy_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    www = tmp_path / "www"
    shutil.copytree(legacy_registry, www)
    write_index(www)
    drop_proxies(monkeypatch)
    with serve(www) as server:
        registry = http_registry(tmp_path / "home", server)
        cards = registry.list()
    assert len(cards) == 10
    assert registry.get("prostate-gland-segmenter").runtime.type == "container"
