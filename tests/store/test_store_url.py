"""https sources: the host allowlist, redirects checked hop by hop, and one real download over a socket.

The real download runs the real urllib transport against ``http.server`` on 127.0.0.1. The only rule relaxed
for it is the scheme (``Settings.allow_http_loopback``, a test-only flag never read from config or env);
the host allowlist and redirect checks are the production ones.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from store_helpers import FakeTransport, cache_listing, digest, make_artifact, settings

from deepinfer import FetchError, IntegrityError
from deepinfer.card import Artifact
from deepinfer.store import ArtifactStore, UrllibTransport, UrlPolicy

DATA = b"onnx weights " * 1000
URL = "https://zenodo.org/records/1/files/model.onnx"


def url_source(url: str = URL) -> dict[str, str]:
    return {"kind": "url", "url": url}


def test_download_from_an_allowed_host(tmp_path: Path) -> None:
    transport = FakeTransport({URL: DATA})
    store = ArtifactStore(tmp_path, settings("zenodo.org"), transport=transport)
    path = store.fetch(make_artifact(DATA, url_source()))
    assert path.read_bytes() == DATA
    assert transport.opened == [URL]


def test_a_host_off_the_list_is_never_contacted(tmp_path: Path) -> None:
    transport = FakeTransport({URL: DATA})
    store = ArtifactStore(tmp_path, settings("github.com"), transport=transport)
    with pytest.raises(FetchError, match=r"'zenodo\.org' is not an allowed host"):
        store.fetch(make_artifact(DATA, url_source()))
    assert transport.opened == []


def test_a_redirect_to_a_host_off_the_list_is_refused(tmp_path: Path) -> None:
    transport = FakeTransport({URL: "https://evil.example/model.onnx", "https://evil.example/model.onnx": DATA})
    store = ArtifactStore(tmp_path, settings("zenodo.org"), transport=transport)
    with pytest.raises(FetchError, match=r"'evil\.example' is not an allowed host"):
        store.fetch(make_artifact(DATA, url_source()))
    assert transport.opened == [URL]
    assert cache_listing(store) == []


def test_a_redirect_to_plain_http_is_refused(tmp_path: Path) -> None:
    transport = FakeTransport({URL: "http://zenodo.org/model.onnx"})
    store = ArtifactStore(tmp_path, settings("zenodo.org"), transport=transport)
    with pytest.raises(FetchError, match="only https"):
        store.fetch(make_artifact(DATA, url_source()))


def test_relative_redirects_on_allowed_hosts_are_followed(tmp_path: Path) -> None:
    cdn = "https://objects.githubusercontent.com/blob/1"
    routes: dict[str, bytes | str] = {URL: "/records/1/files/v2/model.onnx"}
    routes["https://zenodo.org/records/1/files/v2/model.onnx"] = cdn
    routes[cdn] = DATA
    transport = FakeTransport(routes)
    store = ArtifactStore(tmp_path, settings("zenodo.org", "objects.githubusercontent.com"), transport=transport)
    assert store.fetch(make_artifact(DATA, url_source())).read_bytes() == DATA
    assert transport.opened[-1] == cdn


def test_redirect_loops_end(tmp_path: Path) -> None:
    transport = FakeTransport({URL: URL})
    store = ArtifactStore(tmp_path, settings("zenodo.org"), transport=transport)
    with pytest.raises(FetchError, match="redirects"):
        store.fetch(make_artifact(DATA, url_source()))
    assert len(transport.opened) == 6


def test_an_announced_size_that_differs_fails_before_reading(tmp_path: Path) -> None:
    transport = FakeTransport({URL: DATA}, announce_size=10 * len(DATA))
    store = ArtifactStore(tmp_path, settings("zenodo.org"), transport=transport)
    with pytest.raises(IntegrityError, match=f"{10 * len(DATA)} bytes"):
        store.fetch(make_artifact(DATA, url_source()))
    assert cache_listing(store) == []


def test_a_tampered_download_leaves_nothing(tmp_path: Path) -> None:
    transport = FakeTransport({URL: DATA[:-1] + b"!"})
    store = ArtifactStore(tmp_path, settings("zenodo.org"), transport=transport)
    with pytest.raises(IntegrityError, match=digest(DATA)):
        store.fetch(make_artifact(DATA, url_source()))
    assert cache_listing(store) == []


# --------------------------------------------------------------------------- real sockets, real urllib


ROUTES: dict[str, tuple[int, bytes, str | None]] = {
    "/model.onnx": (200, DATA, None),
    "/moved": (302, b"", "/model.onnx"),
    "/away": (302, b"", "http://localhost/"),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body, location = ROUTES.get(self.path, (404, b"not found", None))
        self.send_response(status)
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment must not carry the loopback requests elsewhere."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def real_store(tmp_path: Path, *, loopback: bool = True) -> ArtifactStore:
    return ArtifactStore(tmp_path, settings("127.0.0.1", loopback=loopback), transport=UrllibTransport(timeout=10))


def loopback_artifact(url: str) -> Artifact:
    # UrlSource requires https in a card; the loopback test builds its source past that check on purpose.
    artifact = make_artifact(DATA, url_source())
    return artifact.model_copy(update={"source": artifact.source.model_copy(update={"url": url})})


def test_real_download_and_redirect_through_urllib(tmp_path: Path, server: str) -> None:
    store = real_store(tmp_path)
    path = store.fetch(loopback_artifact(f"{server}/moved"))
    assert path.read_bytes() == DATA
    assert cache_listing(store) == [digest(DATA)]


def test_real_redirect_off_the_list_is_refused(tmp_path: Path, server: str) -> None:
    store = real_store(tmp_path)
    with pytest.raises(FetchError, match="'localhost' is not an allowed host"):
        store.fetch(loopback_artifact(f"{server}/away"))
    assert cache_listing(store) == []


def test_real_http_error_is_a_fetch_error(tmp_path: Path, server: str) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        real_store(tmp_path).fetch(loopback_artifact(f"{server}/absent"))


def test_plain_http_is_refused_without_the_test_flag(tmp_path: Path, server: str) -> None:
    store = real_store(tmp_path, loopback=False)
    with pytest.raises(FetchError, match="only https"):
        store.fetch(loopback_artifact(f"{server}/model.onnx"))


def test_urllib_transport_refuses_other_schemes() -> None:
    with pytest.raises(FetchError, match="not an http"), UrllibTransport().open("file:///etc/hostname"):
        pass


# --------------------------------------------------------------------------- the allowlist's accepted forms


@pytest.mark.parametrize(
    ("url", "hosts"),
    [
        ("https://ZENODO.org/records/1", ("zenodo.org",)),
        ("https://zenodo.org:443/records/1", ("zenodo.org",)),
        ("https://models.example.org:8443/m.onnx", ("models.example.org:8443",)),
    ],
)
def test_allowed_forms(url: str, hosts: tuple[str, ...]) -> None:
    UrlPolicy(hosts).check(url)


def test_a_port_must_be_allowed_explicitly() -> None:
    with pytest.raises(FetchError, match=r"'zenodo\.org:8443' is not an allowed host"):
        UrlPolicy(("zenodo.org",)).check("https://zenodo.org:8443/x")
