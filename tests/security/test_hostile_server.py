"""The hostile corpus, server part: requests a web page, a DNS-rebinding attacker or a full disk send to a
server on loopback without a token, each refused with its status and a clear JSON message.

The app runs in this process with its real lifespan (job manager, worker process) behind Starlette's test
client; ``Host`` is the server's own (``127.0.0.1:8000``) unless a case says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from deepinfer.server import ServerSettings, _uploads, create_app

OWN = "http://127.0.0.1:8000"
JOB = "0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class Request:
    id: str
    method: str
    path: str
    status: int
    match: str
    headers: dict[str, str] = field(default_factory=dict)
    parameters: str | None = None
    """Given: the request is a job submission with these ``parameters``."""
    fields: dict[str, str] | None = None
    """Given: the request is a job submission with these text fields (and no file unless ``parameters``)."""


def nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


def nested_object(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


_HOST = "unknown Host header"
_ORIGIN = "cross-origin request refused"
_DEEP = "nest deeper than"
_PACS = "not a PACS this server may reach"
_META = "dicomweb://169.254.169.254/latest"
CASES = [
    Request("host-rebinding-models", "GET", "/api/models", 400, _HOST, {"host": "attacker.example"}),
    Request("host-rebinding-job", "GET", f"/api/jobs/{JOB}", 400, _HOST, {"host": "attacker.example:8000"}),
    Request("host-rebinding-docs", "GET", "/docs", 400, _HOST, {"host": "attacker.example"}),
    Request("host-rebinding-page", "GET", "/", 400, _HOST, {"host": "attacker.example"}),
    Request("host-loopback-prefix", "GET", "/api/models", 400, _HOST, {"host": "127.0.0.1.evil.example"}),
    Request("host-localhost-suffix", "GET", "/api/models", 400, _HOST, {"host": "localhost.evil.example:8000"}),
    Request("host-empty", "GET", "/v2/health/live", 400, _HOST, {"host": ""}),
    Request("origin-evil-submit", "POST", "/api/jobs", 403, _ORIGIN, {"origin": "http://evil.example"}),
    Request("origin-null-submit", "POST", "/api/jobs", 403, _ORIGIN, {"origin": "null"}),
    Request("origin-other-port", "POST", "/api/jobs", 403, _ORIGIN, {"origin": "http://127.0.0.1:9999"}),
    Request("origin-other-scheme", "POST", "/api/jobs", 403, _ORIGIN, {"origin": "https://127.0.0.1:8000"}),
    Request("origin-evil-cancel", "POST", f"/api/jobs/{JOB}/cancel", 403, _ORIGIN, {"origin": "http://evil.example"}),
    Request("origin-evil-delete", "DELETE", f"/api/jobs/{JOB}", 403, _ORIGIN, {"origin": "http://evil.example"}),
    Request("slash-redirect-models", "GET", "/api/models/", 404, "Not Found", {"host": "127.0.0.1:8000"}),
    Request("slash-redirect-jobs", "POST", "/api/jobs/", 404, "Not Found"),
    Request("params-deep-list", "POST", "/api/jobs", 422, _DEEP, parameters=nested(30_000)),
    Request("params-deep-object", "POST", "/api/jobs", 422, _DEEP, parameters=nested_object(200)),
    Request("params-five-levels", "POST", "/api/jobs", 422, _DEEP, parameters='{"a": ' + nested(4) + "}"),
    Request("params-deep-in-value", "POST", "/api/jobs", 422, _DEEP, parameters='{"threshold": ' + nested(999) + "}"),
    Request("delete-unknown-job", "DELETE", f"/api/jobs/{JOB}", 404, "no such job"),
    Request("cancel-unknown-job", "POST", f"/api/jobs/{JOB}/cancel", 404, "no such job"),
    Request("files-traversal", "GET", f"/api/jobs/{JOB}/files/..%2F..%2Fjobs.db", 404, "Not Found"),
    Request("files-unknown-job", "GET", f"/api/jobs/{JOB}/files/T2.nii.gz", 404, "no such job"),
    Request("pacs-cloud-metadata", "POST", "/api/jobs", 422, _PACS, fields={"T2": f"{_META}/studies/1/series/2"}),
    Request(
        "pacs-other-port",
        "POST",
        "/api/jobs",
        422,
        _PACS,
        fields={"T2": "dicomweb://127.0.0.1:22/x/studies/1/series/2"},
    ),
    Request("pacs-file-url", "POST", "/api/jobs", 422, "dicomweb:// URL", fields={"T2": "file:///etc/passwd"}),
    Request(
        "pacs-credentials-in-url", "POST", "/api/jobs", 422, "user information", fields={"T2": "dicomweb://a:b@h/x"}
    ),
    Request(
        "series-traversal", "POST", "/api/jobs", 422, "not a DICOM UID", parameters="{}", fields={"series": "../.."}
    ),
]


def app_client(tmp_path: Path, **settings: object) -> Iterator[TestClient]:
    app: FastAPI = create_app(ServerSettings(data_dir=tmp_path, drain_timeout=0, **settings))  # type: ignore[arg-type]
    with TestClient(app, base_url=OWN, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from app_client(tmp_path_factory.mktemp("hostile-server"))


def send(client: TestClient, case: Request) -> tuple[int, dict[str, object], dict[str, str]]:
    files: dict[str, tuple[str | None, str | bytes] | tuple[str, bytes, str]] | None = None
    data = None
    if case.parameters is not None:
        data = {"model": "prostate-taps", "parameters": case.parameters}
        files = {"T2": ("t2.nii.gz", b"not read", "application/octet-stream")}
    if case.fields is not None:  # (as text parts of a multipart body, as a browser's FormData sends them)
        parts = {name: (None, value) for name, value in {**(data or {"model": "prostate-taps"}), **case.fields}.items()}
        files, data = {**parts, **(files or {})}, None
    response = client.request(case.method, case.path, headers=case.headers, data=data, files=files)
    return response.status_code, response.json(), dict(response.headers)


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_the_hostile_request_is_refused(client: TestClient, case: Request) -> None:
    status, body, headers = send(client, case)
    assert status == case.status
    error = body["error"]
    assert isinstance(error, dict) and case.match in str(error["message"])
    assert "location" not in headers, "never a redirect (it would name the Host header's domain)"


def test_the_servers_own_origin_and_names_pass(client: TestClient) -> None:
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000"):
        assert client.get("/v2/health/live", headers={"host": host}).status_code == 200
    own = {"origin": OWN, "host": "127.0.0.1:8000"}
    assert client.delete(f"/api/jobs/{JOB}", headers=own).status_code == 404  # the route answers: no such job


def test_a_configured_name_passes(tmp_path: Path) -> None:
    for named in app_client(tmp_path, allowed_hosts=("gpu-box.lab.example",)):
        assert named.get("/v2/health/live", headers={"host": "gpu-box.lab.example:8000"}).status_code == 200
        assert named.get("/v2/health/live", headers={"host": "attacker.example"}).status_code == 400


def test_too_little_free_space_gets_507_before_the_upload(tmp_path: Path) -> None:
    for full in app_client(tmp_path, min_free_bytes=2**62):  # more than any disk has free
        response = full.post("/api/jobs", data={"model": "prostate-taps"}, files={"T2": ("t2.nii.gz", b"x" * 10)})
        assert response.status_code == 507
        assert "not enough free disk space" in response.json()["error"]["message"]
        assert not any((tmp_path / "uploads").iterdir()), "nothing was stored"


def test_a_full_disk_during_the_upload_gets_507_not_a_malformed_body(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dev_full(path: Path) -> IO[bytes]:  # the kernel's own ENOSPC on every write
        return open("/dev/full", "wb")

    monkeypatch.setattr(_uploads, "open_part", dev_full)
    volume = b"\x00" * (1 << 20)
    response = client.post("/api/jobs", data={"model": "prostate-taps"}, files={"T2": ("t2.nii.gz", volume)})
    assert response.status_code == 507, response.text
    assert "disk is full" in response.json()["error"]["message"]


def test_the_corpus_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert len({case.id for case in CASES}) == len(CASES)
    with capsys.disabled():
        print(f"\nhostile server corpus: {len(CASES)} request cases (+4 checks of names, free space, full disk)")
