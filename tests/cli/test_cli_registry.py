"""``deepinfer registry ...`` and ``deepinfer cache ...``: the publishing flow, a registry served over HTTP on
127.0.0.1 (the test-only loopback flag is the one rule relaxed), offline use, tampering, and the cache."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deepinfer._config import Settings
from deepinfer.card import Artifact
from deepinfer.cli import run_cli
from deepinfer.store import ArtifactStore
from localhttp import StaticServer, drop_proxies, loopback_settings, serve


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_cli(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _card(card_id: str) -> dict[str, object]:
    return {
        "id": card_id, "name": card_id.title(), "version": "1.0.0", "task": "segmentation", "modality": "MR",
        "anatomy": card_id.split("-")[0], "license": {"code": "MIT", "weights": "MIT"},
        "inputs": [{"name": "image", "type": "volume"}], "outputs": [{"name": "mask", "type": "probability_map"}],
        "runtime": {"type": "onnx"}, "pipeline": [{"step": "output", "params": {"name": "mask"}}],
    }  # fmt: skip


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEEPINFER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DEEPINFER_ALLOWED_HOSTS", raising=False)
    return tmp_path / "home"


@pytest.fixture
def published(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    """A registry folder built and signed with the CLI; returns the folder and the public key."""
    folder = tmp_path / "www"
    (folder / "cards").mkdir(parents=True)
    for card_id in ("liver-net", "spleen-net"):
        (folder / "cards" / f"{card_id}.json").write_text(json.dumps(_card(card_id)))
    code, public, _ = cli(capsys, "registry", "keygen", str(tmp_path / "publisher.pem"))
    assert code == 0 and public.startswith("ed25519:")
    code, _, err = cli(capsys, "registry", "sign", str(folder), "--key", str(tmp_path / "publisher.pem"))
    assert code == 2 and "registry build" in err, "signing needs an up-to-date index"
    assert cli(capsys, "registry", "build", str(folder))[0] == 0
    assert cli(capsys, "registry", "sign", str(folder), "--key", str(tmp_path / "publisher.pem"))[0] == 0
    return folder, public.strip()


def test_publish_verify_add_list_remove(
    home: Path, published: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, public = published
    code, _, err = cli(capsys, "registry", "verify", str(folder), "--key", public)
    assert code == 0 and "2 card(s) verified" in err
    code, _, err = cli(capsys, "registry", "add", "lab", str(folder), "--key", public)
    assert code == 0 and "2 model(s), signed" in err
    code, out, _ = cli(capsys, "registry", "list", "--json")
    assert [row["name"] for row in json.loads(out)] == ["embedded", "lab"]
    code, out, _ = cli(capsys, "models", "search", "liver", "--json")
    assert [row["id"] for row in json.loads(out)] == ["liver-net"]
    code, out, _ = cli(capsys, "models", "show", "lab:spleen-net", "--json")
    assert code == 0 and json.loads(out)["id"] == "spleen-net"
    assert cli(capsys, "registry", "remove", "lab")[0] == 0
    code, out, _ = cli(capsys, "models", "search", "liver", "--json")
    assert json.loads(out) == []


def test_a_card_changed_after_signing_is_refused_by_the_cli(
    home: Path, published: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, public = published
    assert cli(capsys, "registry", "add", "lab", str(folder), "--key", public)[0] == 0
    path = folder / "cards" / "spleen-net.json"
    path.write_bytes(path.read_bytes().replace(b"Spleen", b"Spleeo"))
    code, _, err = cli(capsys, "models", "list")
    assert code == 4
    assert "registry 'lab'" in err and "spleen-net.json refused" in err
    code, _, err = cli(capsys, "registry", "verify", str(folder), "--key", public)
    assert code == 4


def test_adding_a_registry_that_fails_verification_saves_nothing(
    home: Path, published: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = published
    code, other, _ = cli(capsys, "registry", "keygen", str(tmp_path / "other.pem"))
    code, _, err = cli(capsys, "registry", "add", "lab", str(folder), "--key", other.strip())
    assert code == 4 and "does not verify" in err
    assert not (home / "registries.json").exists()


@pytest.fixture
def served(
    published: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, home: Path
) -> Iterator[tuple[StaticServer, str]]:
    drop_proxies(monkeypatch)
    settings = loopback_settings()
    monkeypatch.setattr(Settings, "load", classmethod(lambda cls, home=None: settings))
    with serve(published[0]) as server:
        yield server, published[1]


def test_an_http_registry_online_then_offline(
    home: Path, served: tuple[StaticServer, str], capsys: pytest.CaptureFixture[str]
) -> None:
    server, public = served
    code, _, err = cli(capsys, "registry", "add", "lab", server.url + "/", "--key", public)
    assert code == 0, err
    code, _, err = cli(capsys, "registry", "update")
    assert code == 0 and "up to date (not modified)" in err
    server.stop()
    state_path = home / "registries" / "lab" / "state.json"
    state = json.loads(state_path.read_text())
    state["checked_at"] = time.time() - 5 * 3600
    state_path.write_text(json.dumps(state))
    code, out, err = cli(capsys, "models", "search", "spleen", "--json")
    assert code == 0 and [row["id"] for row in json.loads(out)] == ["spleen-net"]
    assert "registry 'lab' is unreachable" in err and "5 hours ago" in err
    code, out, _ = cli(capsys, "registry", "list", "--json")
    assert json.loads(out)[1]["state"] == "copy confirmed 5 hours ago"


def test_an_http_registry_tampered_on_the_server(
    home: Path, served: tuple[StaticServer, str], capsys: pytest.CaptureFixture[str]
) -> None:
    server, public = served
    assert cli(capsys, "registry", "add", "lab", server.url + "/", "--key", public)[0] == 0
    index = server.root / "index.json"
    index.write_bytes(index.read_bytes().replace(b"liver-net", b"liver-nez", 1))
    code, _, err = cli(capsys, "registry", "update", "lab")
    assert code == 4 and "registry 'lab'" in err and "signature does not verify" in err


def test_plain_http_registries_are_refused_outside_tests(
    home: Path, published: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "registry", "add", "lab", "http://127.0.0.1:9/", "--key", published[1])
    assert code == 1 and "only https" in err
    assert not (home / "registries.json").exists()


def test_cache_ls_verify_prune(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "card").mkdir()
    (tmp_path / "card" / "w.bin").write_bytes(b"weights" * 10)
    digest = hashlib.sha256(b"weights" * 10).hexdigest()
    source = {"kind": "file", "path": "w.bin"}
    artifact = Artifact.model_validate({"name": "w", "sha256": digest, "size": 70, "source": source})
    store = ArtifactStore(home)
    path = store.fetch(artifact, tmp_path / "card")
    (store.root / f".partial-{'f' * 64}-x").write_bytes(b"left by a killed download")
    code, out, _ = cli(capsys, "cache", "ls", "--json")
    assert code == 0 and [row["sha256"] for row in json.loads(out)] == [artifact.sha256]
    assert cli(capsys, "cache", "verify")[0] == 0
    path.write_bytes(b"Weights" + path.read_bytes()[7:])
    code, _, err = cli(capsys, "cache", "verify")
    assert code == 4 and artifact.sha256 in err
    assert cli(capsys, "cache", "verify", "--remove")[0] == 0
    assert not path.exists()
    derived = home / "artifacts" / "derived"
    derived.mkdir()
    (derived / f"{digest}.onnx9-v0.onnx").write_bytes(b"a conversion by an older deepinfer")
    code, _, err = cli(capsys, "cache", "prune")
    assert code == 0 and "removed 2 item(s)" in err and "onnx9-v0" in err
    assert sorted(p.name for p in store.root.iterdir()) == [] and not any(derived.iterdir())


def test_build_and_add_refuse_a_card_whose_pipeline_does_not_fit_the_steps(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The schema passes, the pipeline does not: a misspelt step and an unknown step parameter are both reported
    (with the card's file and JSON path), no index is written and the registry is not added."""
    folder = tmp_path / "cards"
    folder.mkdir()
    good, broken = _card("liver-net"), _card("spleen-net")
    broken["pipeline"] = [{"step": "resampel", "params": {}}, {"step": "output", "params": {"name": "mask", "x": 1}}]
    (folder / "liver-net.json").write_text(json.dumps(good))
    (folder / "spleen-net.json").write_text(json.dumps(broken))
    code, _, err = cli(capsys, "registry", "build", str(folder))
    assert code == 3 and not (folder / "index.json").exists()
    assert "spleen-net.json $.pipeline[0].step" in err and "did you mean 'resample'" in err
    assert "spleen-net.json $.pipeline[1].params.x" in err and "liver-net.json" not in err
    code, _, err = cli(capsys, "registry", "add", "local", str(folder))
    assert code == 3 and "resampel" in err
    assert cli(capsys, "registry", "list", "--json")[1].count('"name"') == 1, "only the embedded registry"
    (folder / "spleen-net.json").write_text(json.dumps(_card("spleen-net")))
    assert cli(capsys, "registry", "build", str(folder))[0] == 0
    assert cli(capsys, "registry", "add", "local", str(folder))[0] == 0
