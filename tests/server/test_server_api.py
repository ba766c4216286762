"""The server's API over real HTTP (a `deepinfer serve` subprocess on 127.0.0.1 with a token and two workers):
every route, auth, errors, a real job against a local run, and the thin client (`deepinfer run --server`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import SimpleITK as sitk
from server_helpers import TOKEN, ServerProcess, read_array, submit, wait_for, write_crops

ROUTES = [
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/api/models"),
    ("GET", "/api/models/prostate-taps"),
    ("POST", "/api/jobs"),
    ("GET", "/api/jobs/0123456789abcdef0123456789abcdef"),
    ("GET", "/api/jobs/0123456789abcdef0123456789abcdef/events"),
    ("GET", "/api/jobs/0123456789abcdef0123456789abcdef/outputs/ProstateMask"),
    ("POST", "/api/jobs/0123456789abcdef0123456789abcdef/cancel"),
    ("DELETE", "/api/jobs/0123456789abcdef0123456789abcdef"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_home: Path) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("server-api")
    process = ServerProcess(folder / "data", shared_home, workers=2).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def crop(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    return write_crops(colin27, tmp_path_factory.mktemp("crops"))["A"]


def deepinfer(*argv: str, home: Path, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEEPINFER_HOME": str(home), "COLUMNS": "200"}
    env.pop("DEEPINFER_TOKEN", None)
    env.pop("DEEPINFER_SERVER", None)
    if token:
        env["DEEPINFER_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "deepinfer", *argv],
        capture_output=True,
        encoding="utf-8",
        env=env,
        check=False,
        timeout=600,
    )


@pytest.fixture(scope="module")
def local_outputs(crop: tuple[Path, float], tmp_path_factory: pytest.TempPathFactory, shared_home: Path) -> Path:
    """The same run done locally by the CLI (one thread, like the server's workers)."""
    volume, threshold = crop
    folder = tmp_path_factory.mktemp("local")
    result = deepinfer(
        "run",
        "prostate-taps",
        "-i",
        str(volume),
        "-o",
        str(folder / "seg.nii.gz"),
        "--threshold",
        str(threshold),
        "--threads",
        "1",
        "--progress",
        "none",
        home=shared_home,
    )
    assert result.returncode == 0, result.stderr
    return folder


def array(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_health(http: httpx.Client) -> None:
    assert http.get("/v2/health/live").json() == {"live": True}
    ready = http.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True and ready.json()["workers"] == 2


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_api_route_needs_the_token(server: ServerProcess, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = httpx.request(method, server.url + path, headers=headers, timeout=10)
        assert response.status_code == 401, (method, path, headers)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "token" in response.json()["error"]["message"]


def test_the_page_and_the_api_documentation_need_no_token(server: ServerProcess) -> None:
    page = httpx.get(server.url + "/", timeout=10)
    assert page.status_code == 200 and "niivue.umd.js" in page.text
    for asset in ("app.js", "viewer.js", "app.css", "niivue.umd.js"):
        assert httpx.get(f"{server.url}/ui/{asset}", timeout=10).status_code == 200, asset
    assert httpx.get(server.url + "/ui/../pyproject.toml", timeout=10).status_code == 404
    assert httpx.get(server.url + "/docs", timeout=10).status_code == 200


def test_openapi_documents_every_route_and_none_takes_a_path_command_or_image(server: ServerProcess) -> None:
    spec = httpx.get(server.url + "/openapi.json", timeout=10).json()
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert {
        ("GET", "/v2/health/live"),
        ("GET", "/v2/health/ready"),
        ("GET", "/api/models"),
        ("GET", "/api/models/{model}"),
        ("POST", "/api/jobs"),
        ("GET", "/api/jobs/{job_id}"),
        ("GET", "/api/jobs/{job_id}/events"),
        ("GET", "/api/jobs/{job_id}/outputs/{name}"),
        ("POST", "/api/jobs/{job_id}/cancel"),
        ("DELETE", "/api/jobs/{job_id}"),
    } <= documented
    names = {p["name"] for item in spec["paths"].values() for op in item.values() for p in op.get("parameters", [])}
    body = spec["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    names |= set(body["properties"])
    assert names == {"model", "job_id", "name", "parameters", "output_format", "INPUT_NAME"}


def test_models_list_and_card(http: httpx.Client) -> None:
    from deepinfer.registry import default_registry

    models = {m["id"]: m for m in http.get("/api/models").json()}
    taps = models["prostate-taps"]
    assert {"name", "task", "modality", "license", "metrics", "ref"} <= set(taps)
    expected = default_registry().get("prostate-taps").model_dump(mode="json", exclude_none=True)
    assert http.get("/api/models/prostate-taps").json() == expected
    assert http.get(f"/api/models/{taps['ref']}").json() == expected
    missing = http.get("/api/models/no-such-model")
    assert missing.status_code == 404 and "no-such-model" in missing.json()["error"]["message"]


@pytest.fixture(scope="module")
def finished_job(http: httpx.Client, crop: tuple[Path, float]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A real job followed through its server-sent events: (final status, every status event)."""
    volume, threshold = crop
    created = submit(http, volume, {"threshold": threshold})
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    events: list[dict[str, Any]] = []
    with http.stream("GET", f"/api/jobs/{job_id}/events", timeout=httpx.Timeout(10, read=180)) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        from deepinfer.client import sse_events

        for event, data in sse_events(stream.iter_lines()):
            if event == "status":
                events.append(json.loads(data))
    return http.get(f"/api/jobs/{job_id}").json(), events


def test_a_job_reports_progress_and_matches_a_local_run(
    finished_job: tuple[dict[str, Any], list[dict[str, Any]]],
    http: httpx.Client,
    local_outputs: Path,
    tmp_path: Path,
) -> None:
    final, events = finished_job
    assert final["state"] == "succeeded" and final["progress"] == 1.0 and final["error"] is None
    assert events[-1]["state"] == "succeeded"
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress) and all(0.0 <= p <= 1.0 for p in progress)
    assert any(e["state"] == "running" and e["task"] for e in events)
    assert {"queued_s", "run_s", "total_s", "pipeline_s", "load_s", "read_s"} <= set(final["timings"])
    assert final["provenance"]["model"]["id"] == "prostate-taps" and final["parameters"]["threshold"] == 0.01
    for name, local in (("ProstateMask", "seg.nii.gz"), ("ProstateProbability", "seg.ProstateProbability.nii.gz")):
        response = http.get(final["outputs"][name])
        assert response.status_code == 200
        served = read_array(response.content, tmp_path, f"{name}.nii.gz")
        expected = array(local_outputs / local)
        assert served.dtype == expected.dtype and np.array_equal(served, expected), name
    assert array(local_outputs / "seg.nii.gz").any(), "the reference mask should not be empty"
    assert http.get(f"/api/jobs/{final['id']}/outputs/Nope").status_code == 404
    assert http.post(f"/api/jobs/{final['id']}/cancel").status_code == 409  # it has ended
    deleted = http.delete(f"/api/jobs/{final['id']}")  # its record, inputs and outputs
    assert deleted.status_code == 200 and deleted.json() == {"id": final["id"], "deleted": True}
    assert http.get(f"/api/jobs/{final['id']}").status_code == 404
    assert http.get(final["outputs"]["ProstateMask"]).status_code == 404


def test_bad_requests_get_json_errors(http: httpx.Client, crop: tuple[Path, float], tmp_path: Path) -> None:
    volume, _ = crop
    cases = [
        (submit(http, volume, model="no-such-model"), 404, "no-such-model"),
        (submit(http, volume, {"threshold": 2.0}), 422, "threshold"),
        (submit(http, volume, {"bogus": 1}), 422, "bogus"),
        (http.post("/api/jobs", files={"model": (None, "prostate-taps"), "parameters": (None, "{x")}), 422, "JSON"),
        (http.post("/api/jobs", files={"model": (None, "prostate-taps")}), 422, "T2"),
        (submit(http, volume, field="Nope"), 422, "Nope"),
        (submit(http, volume, path="/etc/passwd"), 422, "path"),
        (submit(http, volume, output_format=".exe"), 422, "output_format"),
        (http.post("/api/jobs", json={"model": "prostate-taps"}), 415, "multipart"),
    ]
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    cases.append((submit(http, text), 415, "notes.txt"))
    for response, status, word in cases:
        assert response.status_code == status, (response.status_code, response.text)
        message = response.json()["error"]["message"]
        assert word in message and str(tmp_path) not in message


def test_a_failed_job_names_its_file_but_no_server_path(
    http: httpx.Client, server: ServerProcess, tmp_path: Path
) -> None:
    bogus = tmp_path / "broken.nii.gz"
    bogus.write_bytes(b"this is not an image" * 100)
    with bogus.open("rb") as handle:
        created = http.post(
            "/api/jobs",
            data={"model": "prostate-taps"},
            files={"T2": ("../../../evil/../broken.nii.gz", handle, "application/octet-stream")},
        )
    assert created.status_code == 201, created.text
    final = wait_for(http, created.json()["id"])
    assert final["state"] == "failed" and final["error"]["kind"] == "InputError"
    assert final["inputs"]["T2"]["filename"] == "broken.nii.gz"
    message = final["error"]["message"]
    assert "T2.nii.gz" in message and "/" not in message and str(server.data_dir) not in message
    assert not any(server.data_dir.parent.rglob("evil"))


def test_thin_client_writes_the_same_files_as_a_local_run(
    server: ServerProcess, crop: tuple[Path, float], local_outputs: Path, tmp_path: Path, shared_home: Path
) -> None:
    volume, threshold = crop
    target = tmp_path / "seg.nii.gz"
    result = deepinfer(
        "run",
        "prostate-taps",
        "-i",
        str(volume),
        "-o",
        str(target),
        "--threshold",
        str(threshold),
        "--server",
        server.url,
        "--progress",
        "json",
        home=shared_home,
        token=TOKEN,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in local_outputs.iterdir())
    for path in local_outputs.glob("*.nii.gz"):
        assert np.array_equal(array(tmp_path / path.name), array(path)), path.name
        remote, local = sitk.ReadImage(str(tmp_path / path.name)), sitk.ReadImage(str(path))
        assert (remote.GetOrigin(), remote.GetSpacing(), remote.GetDirection()) == (
            local.GetOrigin(),
            local.GetSpacing(),
            local.GetDirection(),
        )
    remote_record = json.loads((tmp_path / "seg.provenance.json").read_text())
    local_record = json.loads((local_outputs / "seg.provenance.json").read_text())
    assert set(local_record) <= set(remote_record)
    for key in ("model", "artifacts", "parameters", "inputs", "output"):
        assert remote_record[key] == local_record[key], key
    tasks = {json.loads(line)["task"] for line in result.stderr.splitlines() if line.startswith("{")}
    assert {"upload T2", "sliding window", "download ProstateMask"} <= tasks


def test_global_server_option_browses_the_servers_models(server: ServerProcess, shared_home: Path) -> None:
    listed = deepinfer("--server", server.url, "models", "list", "--json", home=shared_home, token=TOKEN)
    assert listed.returncode == 0, listed.stderr
    assert "prostate-taps" in {m["id"] for m in json.loads(listed.stdout)}
    missing = deepinfer(
        "--server",
        server.url,
        "run",
        "no-such-model",
        "-i",
        "x.nii.gz",
        "-o",
        "y.nii.gz",
        home=shared_home,
        token=TOKEN,
    )
    assert missing.returncode == 2 and "no-such-model" in missing.stderr
    refused = deepinfer("--server", server.url, "models", "list", home=shared_home, token="wrong")
    assert refused.returncode == 1 and "token" in refused.stderr


def test_thin_client_warns_as_a_local_run_does(server: ServerProcess, tmp_path: Path, shared_home: Path) -> None:
    """An input whose voxels all hold one value: the server's run (deepbet: it processes such an image) warns
    that it looks empty, and the thin client prints that warning as a local run would (from the job view's
    provenance). The warning names the server's copy of the input by its file name, never by its path."""
    constant = sitk.Image(48, 48, 32, sitk.sitkFloat32) + 100.0
    source = tmp_path / "constant.nii.gz"
    sitk.WriteImage(constant, str(source))
    result = deepinfer("run", "brain-extraction-deepbet", "-i", str(source), "-o", str(tmp_path / "mask.nii.gz"),
                       "--server", server.url, "--progress", "none", home=shared_home, token=TOKEN)  # fmt: skip
    assert result.returncode == 0, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if line.startswith("warning:") and "empty" in line]
    assert warning.startswith("warning: T1.nii.gz: the input looks empty (every voxel of input T1 is 100.0)"), warning
    assert str(server.data_dir) not in result.stderr
    record = (tmp_path / "mask.provenance.json").read_text("utf-8")
    assert "the input looks empty" in record and str(server.data_dir) not in record
