"""The hardening's parts without a server: a full jobs database is a StorageError, retention by age and size,
path scrubbing with spaces, the log filters, the Origin/Host names, binding (a port in use, ``[::1]``), the
header timeout of the real uvicorn protocol, and a tampered registry skipped by the server's registry."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from card_documents import minimal_card
from deepinfer._exceptions import IntegrityError, ServerError, StorageError
from deepinfer.jobs import InputFile, Job, JobFolders, JobState, JobStore, RetentionPolicy, scrub_paths
from deepinfer.jobs._retention import apply_retention
from deepinfer.jobs._worker import failure
from deepinfer.registry import CombinedRegistry, DirectoryRegistry, EmbeddedRegistry, write_index
from deepinfer.server import ServerSettings
from deepinfer.server._guard import host_name
from deepinfer.server._logging import RateLimitFilter, TokenScrubFilter, scrub_token
from deepinfer.server._serve import listening_socket, uvicorn_config


def job(job_id: str, created: float = 0.0) -> Job:
    return Job(job_id, "m@1.0.0", {}, {"T2": InputFile("T2.nii.gz", "t2.nii.gz", 1)}, {}, ".nii.gz", created=created)


def test_a_full_database_raises_storage_error_and_works_once_space_is_back(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    (pages,) = store._db.execute("PRAGMA page_count").fetchone()
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StorageError, match="database or disk is full"):
        for n in range(1000):
            store.add(job(f"{n:032x}"), max_queued=10_000)
    store._db.execute("PRAGMA max_page_count = 1073741823")
    store.add(job("e" * 32), max_queued=10_000)
    assert store.get("e" * 32) is not None


def test_a_worker_on_a_full_disk_says_so() -> None:
    kind, message = failure(OSError(errno.ENOSPC, "No space left on device", "/srv/d/jobs/x/out.nii.gz"))
    assert kind == "StorageError" and "disk is full" in message and "/srv" not in message
    assert failure(ValueError("x")) == ("InternalError", "internal error (ValueError)")


def ended_job(store: JobStore, folders: JobFolders, job_id: str, size: int, finished: float) -> None:
    store.add(job(job_id, created=finished), max_queued=100)
    claimed = store.claim_next("t")
    assert claimed is not None and claimed.id == job_id
    assert store.finish(job_id, "t", JobState.succeeded)
    store._db.execute("UPDATE jobs SET finished = ? WHERE id = ?", (finished, job_id))
    (folders.job_dir(job_id) / "outputs").mkdir(parents=True)
    (folders.job_dir(job_id) / "outputs" / "mask.nii.gz").write_bytes(b"x" * size)


def test_retention_removes_old_then_oldest_jobs_and_never_active_ones(tmp_path: Path) -> None:
    folders = JobFolders(tmp_path / "data")
    folders.prepare()
    store = JobStore(folders.database)
    now = 1_000_000.0
    ended_job(store, folders, "a" * 32, 100, now - 10 * 86400)  # too old
    ended_job(store, folders, "b" * 32, 300, now - 3 * 86400)  # young but the oldest of the rest
    ended_job(store, folders, "c" * 32, 300, now - 86400)
    store.add(job("d" * 32), max_queued=100)  # queued: never removed
    (folders.job_dir("d" * 32) / "inputs").mkdir(parents=True)
    policy = RetentionPolicy(max_age_s=7 * 86400, max_bytes=500)
    assert apply_retention(store, folders, policy, now) == ["a" * 32, "b" * 32]
    assert store.get("a" * 32) is None and not folders.job_dir("a" * 32).exists()
    assert store.get("b" * 32) is None and not folders.job_dir("b" * 32).exists()
    assert store.get("c" * 32) is not None and folders.job_dir("c" * 32).exists()
    assert store.get("d" * 32) is not None and folders.job_dir("d" * 32).exists()
    assert apply_retention(store, folders, RetentionPolicy(max_age_s=None, max_bytes=None), now + 1e9) == []


def test_paths_with_spaces_are_scrubbed(tmp_path: Path) -> None:
    data = tmp_path / "my data" / "d"
    (data / "jobs" / "ab12" / "inputs").mkdir(parents=True)
    message = f"{data}/jobs/ab12/inputs/T2.nii.gz: not an image"
    assert scrub_paths(message) == "T2.nii.gz: not an image"  # the file system says where the path ends
    gone = "/srv/lab data/d/jobs/ab12/inputs/T2.nii.gz: not an image"
    assert scrub_paths(gone, [Path("/srv/lab data/d")]) == "T2.nii.gz: not an image"  # a known root
    assert JobFolders(data).scrub(f"{data}/jobs/x/outputs/M.nii.gz: disk full") == "M.nii.gz: disk full"
    assert scrub_paths("see https://example.org/a/b and 1/2") == "see https://example.org/a/b and 1/2"


def test_the_access_log_loses_tokens() -> None:
    assert scrub_token("/api/jobs?token=s3cret&x=1") == "/api/jobs?token=***&x=1"
    assert scrub_token("/?a=1&access_token=abc") == "/?a=1&access_token=***"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/api/models?token=s3cret", "1.1", 401),
        None,
    )
    assert TokenScrubFilter().filter(record) and "s3cret" not in record.getMessage()


def test_floods_of_similar_log_lines_are_rate_limited() -> None:
    now = [0.0]
    limit = RateLimitFilter(burst=3, interval_s=10.0, clock=lambda: now[0])

    def line(text: str = "socket.accept() out of system resource") -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, "", 0, text, None, None)

    passed = [record.getMessage() for record in (line() for _ in range(1000)) if limit.filter(record)]
    assert len(passed) == 4 and "suppressed for up to 10 s" in passed[-1]
    assert limit.filter(line("another message"))
    now[0] = 10.0
    first = line()
    assert limit.filter(first) and "996 similar line(s) suppressed" in first.getMessage()


@pytest.mark.parametrize(
    ("authority", "name"),
    [("127.0.0.1:8000", "127.0.0.1"), ("[::1]:8000", "::1"), ("LocalHost", "localhost"), ("::1", "::1")],
)
def test_host_names(authority: str, name: str) -> None:
    assert host_name(authority) == name


def test_a_port_in_use_is_a_clear_error_and_ipv6_loopback_binds() -> None:
    first = listening_socket("127.0.0.1", 0)
    first.listen()
    port = first.getsockname()[1]
    try:
        with pytest.raises(ServerError, match=f"port {port}: the port is in use") as raised:
            listening_socket("127.0.0.1", port)
        assert raised.value.exit_code == 1
    finally:
        first.close()
    v6 = listening_socket("[::1]", 0)
    assert v6.family == socket.AF_INET6 and v6.getsockname()[0] == "::1"
    v6.close()


async def _hello(scope: dict[str, object], receive: object, send: object) -> None:  # a minimal ASGI app
    assert scope["type"] in {"http", "lifespan"}
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]


def test_a_connection_that_never_finishes_its_headers_is_closed() -> None:
    settings = ServerSettings(header_timeout=0.5)
    sock = listening_socket("127.0.0.1", 0)
    config = uvicorn_config(_hello, settings)  # type: ignore[arg-type]
    config.lifespan = "off"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with socket.create_connection(sock.getsockname(), timeout=30) as slow:
            slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            assert slow.recv(1024) == b"", "the server closed the connection (no answer)"
        with socket.create_connection(sock.getsockname(), timeout=30) as fine:
            fine.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            assert fine.recv(1024).startswith(b"HTTP/1.1 200")
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def test_the_server_skips_a_tampered_registry_and_serves_the_others(tmp_path: Path) -> None:
    folder = tmp_path / "lab registry"
    folder.mkdir()
    card = folder / "lab-net.json"
    card.write_text(json.dumps(minimal_card("lab-net")))
    write_index(folder)
    card.write_text(json.dumps(minimal_card("lab-net", description="changed after the index was built")))
    members = [("embedded", EmbeddedRegistry()), ("lab", DirectoryRegistry(folder, label="lab"))]
    with pytest.raises(IntegrityError):
        CombinedRegistry(members).list()  # the CLI: an error naming the registry
    tolerant = CombinedRegistry(members, skip_unverified=True)
    assert any(card.id == "prostate-taps" for card in tolerant.list())
    assert len(tolerant.unavailable) == 1 and tolerant.unavailable[0].startswith("lab: fails verification")
    assert os.fspath(folder) not in scrub_paths(tolerant.unavailable[0], [tmp_path])


def serve_argv(data: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "deepinfer", "serve", "--data-dir", str(data), "--threads", "1", *options]


def test_serve_on_a_port_in_use_exits_1_and_ipv6_loopback_serves(tmp_path: Path, shared_home: Path) -> None:
    env = {**os.environ, "DEEPINFER_HOME": str(shared_home)}
    env.pop("DEEPINFER_TOKEN", None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            serve_argv(tmp_path / "a", "--port", str(port)), env=env, capture_output=True, encoding="utf-8", timeout=120
        )
    assert done.returncode == 1, done.stderr
    assert f"port {port}: the port is in use" in done.stderr and "Traceback" not in done.stderr

    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        serve_argv(tmp_path / "b", "--host", "[::1]", "--port", str(port)), env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"serve --host [::1] exited with {server.returncode}"
            try:
                answer = httpx.get(f"http://[::1]:{port}/v2/health/live", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve --host [::1] did not answer"
                time.sleep(0.2)
        assert answer.status_code == 200 and answer.json() == {"live": True}
    finally:
        os.kill(server.pid, signal.SIGTERM)
        assert server.wait(90) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
