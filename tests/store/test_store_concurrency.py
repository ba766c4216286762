"""Two real processes pulling one artifact download it once; a download killed with SIGKILL leaves no entry.

The artifact is served slowly by a real HTTP server on 127.0.0.1 and pulled by separate Python processes
(``store_pull_worker.py``) through the real urllib transport, sharing one cache folder.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from store_helpers import make_artifact

from deepinfer.card import Artifact
from deepinfer.store import ArtifactStore, UrllibTransport
from localhttp import PROXY_VARIABLES, drop_proxies, loopback_settings, serve

WORKER = Path(__file__).with_name("store_pull_worker.py")


def _environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name not in PROXY_VARIABLES}


def _start(home: Path, url: str, data: bytes) -> subprocess.Popen[str]:
    argv = [sys.executable, str(WORKER), str(home), url, hashlib.sha256(data).hexdigest(), str(len(data))]
    worker = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf-8",
        env=_environment(),
    )
    assert worker.stdout is not None
    assert worker.stdout.readline().strip() == "ready"
    return worker


def _go(worker: subprocess.Popen[str]) -> None:
    assert worker.stdin is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()


def _loopback_artifact(data: bytes, url: str) -> Artifact:
    artifact = make_artifact(data, {"kind": "url", "url": "https://x"})
    return artifact.model_copy(update={"source": artifact.source.model_copy(update={"url": url})})


def test_two_processes_pull_once_and_both_get_the_verified_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop_proxies(monkeypatch)
    data = os.urandom(1 << 19)
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "model.onnx").write_bytes(data)
    with serve(tmp_path / "www", delay=0.05) as server:  # 8 chunks: about 0.4 s per download
        url = f"{server.url}/model.onnx"
        workers = [_start(tmp_path / "home", url, data) for _ in range(2)]
        for worker in workers:
            _go(worker)
        results = [worker.communicate(timeout=60) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [err for _, err in results]
    paths = {Path(out.strip()) for out, _ in results}
    assert len(paths) == 1
    assert hashlib.sha256(paths.pop().read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert server.count("/model.onnx") == 1, "the second process waited for the first and downloaded nothing"


def test_a_download_killed_with_sigkill_leaves_no_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drop_proxies(monkeypatch)
    data = os.urandom(3 << 20)
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "model.onnx").write_bytes(data)
    home = tmp_path / "home"
    artifact = _loopback_artifact(data, "")
    with serve(tmp_path / "www", delay=0.05) as slow:  # 48 chunks: about 2.4 s
        worker = _start(home, f"{slow.url}/model.onnx", data)
        _go(worker)
        partials = _wait_for_partial(home / "artifacts" / "sha256", worker)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    assert worker.returncode == -signal.SIGKILL
    store = ArtifactStore(home, loopback_settings(), transport=UrllibTransport(timeout=10))
    assert store.cached_path(artifact) is None, "a partial download is never an entry"
    assert [entry.sha256 for entry in store.entries()] == []
    assert all(path.exists() for path in partials)
    with serve(tmp_path / "www") as fast:
        url_artifact = _loopback_artifact(data, f"{fast.url}/model.onnx")
        path = store.fetch(url_artifact)
    assert path.read_bytes() == data
    assert not any(path.exists() for path in partials), "the next fetch removed the leftover"


def _wait_for_partial(root: Path, worker: subprocess.Popen[str]) -> list[Path]:
    """The partial files once at least one holds data (the download is under way)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        partials = list(root.glob(".partial-*")) if root.is_dir() else []
        if any(path.stat().st_size > 0 for path in partials):
            return partials
        assert worker.poll() is None, "the worker ended before it was killed"
        time.sleep(0.02)
    raise AssertionError("no partial download appeared")
