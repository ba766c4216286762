"""The server's parts without sockets: job rows and their state machine, recovery rules, the bind rule, path
scrubbing, server-sent event parsing, and the client's mapping of HTTP answers to deepinfer errors."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from deepinfer._exceptions import (
    InputError,
    IntegrityError,
    ModelNotFoundError,
    QueueFullError,
    ServerError,
    UsageError,
)
from deepinfer.client import ServerClient, job_error, job_warnings, sse_events
from deepinfer.jobs import InputFile, Job, JobState, JobStore, display_name, scrub_paths, upload_suffix
from deepinfer.jobs._records import overall_progress
from deepinfer.server import ServerSettings, check_settings, is_loopback


def job(job_id: str) -> Job:
    return Job(
        job_id,
        "prostate-taps@1.0.0",
        {"threshold": 0.5},
        {"T2": InputFile("T2.nii.gz", "t2.nii.gz", 10)},
        {"ProstateMask": "ProstateMask.nii.gz"},
        ".nii.gz",
        created=time.time(),
    )


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs.sqlite3")


def test_jobs_run_in_order_and_stale_attempts_change_nothing(store: JobStore) -> None:
    for n in range(3):
        store.add(job(f"{n:032x}"), max_queued=10)
    first = store.claim_next("token-1")
    assert first is not None and first.id == f"{0:032x}" and first.state is JobState.running and first.attempts == 1
    assert store.update_progress(first.id, "token-1", progress=0.5, message="sliding window 1/2")
    assert not store.update_progress(first.id, "stale", progress=0.9)
    assert store.finish(first.id, "token-1", JobState.succeeded, timings={"run_s": 1.0})
    done = store.get(first.id)
    assert done is not None and done.state is JobState.succeeded and done.progress == 1.0
    assert done.timings == {"run_s": 1.0} and done.inputs["T2"].filename == "t2.nii.gz"
    assert not store.finish(first.id, "token-1", JobState.failed)  # already ended


def test_the_queue_is_bounded(store: JobStore) -> None:
    store.add(job("a" * 32), max_queued=1)
    with pytest.raises(QueueFullError):
        store.add(job("b" * 32), max_queued=1)
    assert store.get("b" * 32) is None


def test_cancel_queued_running_and_finished(store: JobStore) -> None:
    store.add(job("a" * 32), max_queued=5)
    store.add(job("b" * 32), max_queued=5)
    running = store.claim_next("t")
    assert running is not None
    assert store.cancel("b" * 32) is JobState.queued
    assert store.cancel(running.id) is JobState.running
    assert not store.finish(running.id, "t", JobState.succeeded)  # the worker's late result is ignored
    assert store.cancel(running.id) is JobState.cancelled
    assert store.cancel("c" * 32) is None
    assert store.claim_next("u") is None


def test_recovery_reruns_interrupted_jobs_until_their_attempts_are_used(store: JobStore) -> None:
    store.add(job("a" * 32), max_queued=5)
    store.add(job("b" * 32), max_queued=5)
    store.claim_next("t1")  # the server dies while a is running; b waits
    assert store.recover(max_attempts=2) == (1, 0)
    assert [store.get(i).state for i in ("a" * 32, "b" * 32)] == [JobState.queued, JobState.queued]  # type: ignore[union-attr]
    again = store.claim_next("t2")
    assert again is not None and again.id == "a" * 32 and again.attempts == 2
    assert store.recover(max_attempts=2) == (0, 1)  # it died again: now it fails, with the reason
    failed = store.get("a" * 32)
    assert failed is not None and failed.state is JobState.failed and "2 time(s)" in (failed.error or "")


def test_a_shutdown_requeue_does_not_count_as_an_attempt(store: JobStore) -> None:
    store.add(job("a" * 32), max_queued=5)
    store.claim_next("t")
    assert store.requeue("a" * 32, "t", "interrupted by a server shutdown", count_attempt=False)
    requeued = store.get("a" * 32)
    assert requeued is not None and requeued.state is JobState.queued and requeued.attempts == 0


def test_progress_never_goes_back_and_downloads_do_not_count() -> None:
    assert overall_progress(0.0, "download model", 50, 100) == 0.0
    assert overall_progress(0.0, "sliding window", 1, 4) == 0.25
    assert overall_progress(0.5, "sliding window", 1, 4) == 0.5
    assert overall_progress(0.5, "inference", 1, 1) == 1.0


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("127.5.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.1", False),
        ("example.org", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_bind_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPINFER_RUNTIME", raising=False)
    monkeypatch.delenv("DEEPINFER_PRECISION", raising=False)
    check_settings(ServerSettings(data_dir=tmp_path))
    check_settings(ServerSettings(host="0.0.0.0", token="secret", data_dir=tmp_path))
    with pytest.raises(UsageError, match="without a token"):
        check_settings(ServerSettings(host="0.0.0.0", data_dir=tmp_path))
    with pytest.raises(UsageError):
        check_settings(ServerSettings(workers=0, data_dir=tmp_path))
    check_settings(ServerSettings(runtime="onnxruntime", precision="fast", data_dir=tmp_path))
    with pytest.raises(UsageError, match="unknown runtime 'tensorrt'"):
        check_settings(ServerSettings(runtime="tensorrt", data_dir=tmp_path))
    with pytest.raises(UsageError, match="unknown precision 'half'"):
        check_settings(ServerSettings(precision="half", data_dir=tmp_path))
    monkeypatch.setenv("DEEPINFER_RUNTIME", "tensorrt")  # what the workers would read without --runtime
    with pytest.raises(UsageError, match="unknown runtime 'tensorrt'"):
        check_settings(ServerSettings(data_dir=tmp_path))
    check_settings(ServerSettings(runtime="auto", data_dir=tmp_path))


def test_client_file_names_are_display_only() -> None:
    assert upload_suffix("Scan.NII.GZ") == ".nii.gz" and upload_suffix("x.nrrd") == ".nrrd"
    assert upload_suffix("x.mhd") is None and upload_suffix("x.dcm") is None
    assert display_name("../../etc/passwd.nii", "T2.nii") == "passwd.nii"
    assert display_name("C:\\scans\\t2.nii.gz", "T2.nii") == "t2.nii.gz"
    assert display_name("bad\x00\nname.nii", "T2.nii") == "badname.nii"


def test_messages_lose_server_paths() -> None:
    assert scrub_paths("/srv/data/jobs/ab12/inputs/T2.nii.gz: not an image") == "T2.nii.gz: not an image"
    assert scrub_paths("see https://example.org/a/b and 1/2") == "see https://example.org/a/b and 1/2"


def test_server_sent_events_are_parsed() -> None:
    lines = ["retry: 2000", "", ": keep-alive", "", "event: status", 'data: {"a":', "data: 1}", "", "data: x"]
    assert list(sse_events(lines)) == [("status", '{"a":\n1}'), ("message", "x")]


def answer(status: int, message: str = "m", **headers: str) -> ServerClient:
    body = {"error": {"status": status, "message": message}}
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body, headers=headers))
    return ServerClient("http://127.0.0.1:1", "t", transport=transport)


@pytest.mark.parametrize(
    ("status", "message", "error"),
    [
        (401, "wrong token", ServerError),
        (404, "no model 'x'", ModelNotFoundError),
        (404, "no such job", ServerError),
        (413, "too large", InputError),
        (415, "type", InputError),
        (422, "bad threshold", UsageError),
        (500, "internal", ServerError),
    ],
)
def test_http_answers_become_deepinfer_errors(status: int, message: str, error: type[Exception]) -> None:
    with pytest.raises(error, match=message), answer(status, message) as client:
        client.models()


def test_a_full_queue_says_when_to_retry() -> None:
    with pytest.raises(QueueFullError) as raised, answer(503, "the job queue is full", **{"Retry-After": "7"}) as c:
        c.models()
    assert raised.value.retry_after == 7


def test_an_unreachable_server_is_a_server_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        pytest.raises(ServerError, match="cannot reach"),
        ServerClient("http://127.0.0.1:1", transport=httpx.MockTransport(refuse)) as client,
    ):
        client.models()
    with pytest.raises(UsageError):
        ServerClient("ftp://127.0.0.1")


def test_failed_jobs_raise_what_a_local_run_would() -> None:
    assert isinstance(
        job_error({"id": "j", "state": "failed", "error": {"kind": "InputError", "message": "x"}}), InputError
    )
    assert isinstance(
        job_error({"id": "j", "state": "failed", "error": {"kind": "IntegrityError", "message": "x"}}), IntegrityError
    )
    unknown = job_error({"id": "j", "state": "failed", "error": {"kind": "os.system", "message": "x"}})
    assert type(unknown) is ServerError
    assert "cancelled" in str(job_error({"id": "j", "state": "cancelled", "error": None}))


def test_a_hostile_servers_job_text_is_made_safe_to_show() -> None:
    """What a server says about a job is shown on the user's terminal: terminal escapes and other control
    characters are replaced, lines bounded, a flood of warnings cut; values of the wrong type are ignored, and a
    container's multi-line error keeps its lines."""
    escape = "\x1b]0;owned\x07\x1b[2J"
    failed = job_error(
        {"id": "j", "state": "failed", "error": {"kind": "PipelineError", "message": f"bad{escape}\nlog"}}
    )
    assert "\x1b" not in str(failed) and "\x07" not in str(failed) and str(failed).splitlines()[1] == "log"
    assert type(job_error({"id": "j", "state": "failed", "error": ["not", "a", "mapping"]})) is ServerError
    assert str(job_error({"id": "j", "state": "failed", "error": {"message": 42}})) == "the job failed on the server"
    assert len(str(job_error({"id": "j", "state": "failed", "error": {"message": "x" * 10_000}}))) <= 1000
    assert len(str(job_error({"id": "j", "state": "failed", "error": {"message": "x\n" * 500}})).splitlines()) <= 41
    status = {"provenance": {"warnings": [f"empty{escape}", 7, None]}, "lost": [f"attempt 1{escape}"] * 80}
    warnings = job_warnings(status)
    assert len(warnings) == 50 + 1 and warnings[-1].startswith("... and 31 more")  # 81 warnings: 50 shown
    assert warnings[0] == "empty?]0;owned??[2J" and all("\x1b" not in w for w in warnings)
    assert job_warnings({"provenance": "not a mapping", "lost": "not a list"}) == []
    assert job_warnings({"provenance": {"warnings": {"a": "b"}}, "lost": None}) == []


def test_run_help_lists_the_server_options() -> None:
    from typer.testing import CliRunner

    from deepinfer.cli._app import app

    result = CliRunner().invoke(app, ["run", "prostate-taps", "--help"])
    assert result.exit_code == 0 and "--server" in result.output and "--token" in result.output
