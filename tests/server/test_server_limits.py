"""Limits and cancel on a real server (one worker, a queue of two, uploads capped at 1 MiB, the runtime and
precision fixed by ``serve --runtime onnxruntime --precision fast``): 413, 503 with Retry-After, cancelling a
queued and a running job (its worker process is stopped and replaced), the bind rule."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_helpers import ServerProcess, free_port, submit, wait_for, write_crops


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_home: Path) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("server-limits")
    process = ServerProcess(
        folder / "data",
        shared_home,
        workers=1,
        extra=["--max-queue", "2", "--max-upload-mb", "1", "--runtime", "onnxruntime", "--precision", "fast"],
    ).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def crop(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_crops(colin27, tmp_path_factory.mktemp("crops"))["A"][0]


def leftovers(server: ServerProcess) -> list[Path]:
    return [p for p in (server.data_dir / "uploads").rglob("*") if p.is_file()]


def test_an_upload_over_the_cap_gets_413_and_leaves_nothing(
    http: httpx.Client, server: ServerProcess, tmp_path: Path
) -> None:
    big = tmp_path / "big.nii"
    big.write_bytes(os.urandom(3 * 1024 * 1024))
    declared = submit(http, big)  # Content-Length is known: refused before reading the body
    assert declared.status_code == 413 and "1 MiB" in declared.json()["error"]["message"]

    boundary = "deepinfer-test-boundary"

    def chunked() -> Iterator[bytes]:  # no Content-Length: the cap is enforced while streaming
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nprostate-taps\r\n'.encode()
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="T2"; filename="big.nii"\r\n\r\n'.encode()
        for _ in range(48):
            yield os.urandom(64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    streamed = http.post(
        "/api/jobs", content=chunked(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert streamed.status_code == 413, streamed.text
    assert "larger than" in streamed.json()["error"]["message"]
    assert leftovers(server) == [] and not any((server.data_dir / "jobs").iterdir())


def test_full_queue_gets_503_and_cancel_stops_the_work(http: httpx.Client, server: ServerProcess, crop: Path) -> None:
    first = submit(http, crop, {"threshold": 0.01}).json()["id"]
    wait_for(http, first, {"running"}, timeout=120)
    old_workers = set(server.worker_pids())
    waiting = [submit(http, crop, {"threshold": 0.01}) for _ in range(2)]
    assert [r.status_code for r in waiting] == [201, 201]
    second, third = (r.json()["id"] for r in waiting)
    refused = submit(http, crop)
    assert refused.status_code == 503 and int(refused.headers["retry-after"]) > 0
    assert "queue is full" in refused.json()["error"]["message"]
    assert http.get("/v2/health/ready").status_code == 503
    assert http.get(f"/api/jobs/{second}/outputs/ProstateMask").status_code == 409

    assert http.post(f"/api/jobs/{second}/cancel").json()["state"] == "cancelled"
    assert http.get(f"/api/jobs/{first}").json()["state"] == "running"
    refused_delete = http.delete(f"/api/jobs/{first}")
    assert refused_delete.status_code == 409 and "cancel it first" in refused_delete.json()["error"]["message"]
    assert http.post(f"/api/jobs/{first}/cancel").json()["state"] == "cancelled"
    # the cancelled job's worker process is stopped, and a fresh worker takes the next job
    deadline = time.monotonic() + 60
    while old_workers & set(server.worker_pids()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not old_workers & set(server.worker_pids())
    finished = wait_for(http, third, timeout=180)
    assert finished["state"] == "succeeded"
    runtime = http.get(f"/api/jobs/{third}").json()["provenance"]["runtime"]
    # the server's --runtime and --precision reached the worker: ONNX Runtime computes fast mode in fp32
    assert runtime["precision"]["requested"] == "fast"
    assert runtime["networks"]["model"] == {"runtime": "onnxruntime", "precision": "f32", "chosen": "requested"}
    assert http.get(f"/api/jobs/{first}").json()["state"] == "cancelled"
    assert http.get(f"/api/jobs/{second}").json()["state"] == "cancelled"
    assert http.post(f"/api/jobs/{second}/cancel").status_code == 409
    assert http.delete(f"/api/jobs/{second}").json() == {"id": second, "deleted": True}
    assert not (server.data_dir / "jobs" / second).exists()
    assert http.get("/v2/health/ready").status_code == 200


def test_a_non_loopback_address_needs_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DEEPINFER_TOKEN"}
    for host in ("0.0.0.0", "::", "192.0.2.10"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "deepinfer",
                "serve",
                "--host",
                host,
                "--port",
                str(free_port()),
                "--data-dir",
                str(tmp_path),
            ],
            capture_output=True,
            encoding="utf-8",
            env=env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        assert "refusing to listen" in result.stderr and "token" in result.stderr


def test_one_server_per_data_folder(server: ServerProcess) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deepinfer", "serve", "--port", str(free_port()), "--data-dir", str(server.data_dir)],
        capture_output=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "another deepinfer server" in result.stderr
