"""A server job whose Ray actor is lost runs again on a new actor, as a batch case does (the shared
``LostAttempts``/``actor_lost`` of ``deepinfer.batch``), up to ``RAY_RETRIES`` more times, each loss recorded in
the job row and its view; the actor's own errors are not retried.

Ray's side is a stand-in here (a module whose actors answer from a script, raising Ray's real exception classes);
the end-to-end test with a real cluster whose node is killed is in ``tests/server/test_server_ray.py``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from deepinfer.batch import RAY_RETRIES, LostAttempts, actor_lost
from deepinfer.jobs import InputFile, Job, JobFolders, JobState, JobStore
from deepinfer.jobs._ray_worker import RayJobs
from deepinfer.jobs._worker import WorkerOptions
from deepinfer.server._views import job_view
from realparts import need

CARD = Path(__file__).parents[2] / "registry" / "cards" / "prostate-taps.json"


@pytest.fixture(scope="module")
def errors() -> ModuleType:
    ray = need("ray", "the retry rules are about Ray's exception classes (pip install 'deepinfer[ray]')")
    return ray.exceptions  # type: ignore[no-any-return]


class Sent:
    """The worker's pipe towards the manager."""

    def __init__(self) -> None:
        self.messages: list[tuple[Any, ...]] = []

    def send(self, obj: Any) -> None:
        self.messages.append(obj)


def scripted_ray(errors: ModuleType, attempts: list[list[Any]]) -> ModuleType:
    """A stand-in for the ``ray`` module: each actor's ``run`` streams the next attempt's items (a message, or an
    exception that ``ray.get`` raises); ``started`` and ``killed`` count the actors."""
    ray = ModuleType("ray_stand_in")
    ray.exceptions = errors  # type: ignore[attr-defined]
    ray.started = 0  # type: ignore[attr-defined]
    ray.killed = 0  # type: ignore[attr-defined]
    script = iter(attempts)

    class Stream:
        def remote(self, task: dict[str, Any], files: Any) -> Iterator[Any]:
            return iter(next(script))

    class Method:
        def options(self, **options: Any) -> Stream:
            assert options == {"num_returns": "streaming"}
            return Stream()

    class Actor:
        run = Method()

    class ActorClass:
        def options(self, **options: Any) -> ActorClass:
            assert options["max_restarts"] == 0  # the retry is deepinfer's (recorded), never Ray's as well
            return self

        def remote(self, options: WorkerOptions) -> Actor:
            ray.started += 1  # type: ignore[attr-defined]
            return Actor()

    def get(item: Any) -> Any:
        if isinstance(item, BaseException):
            raise item
        return item

    def kill(actor: Any, no_restart: bool) -> None:
        ray.killed += 1  # type: ignore[attr-defined]

    ray.remote = lambda cls: ActorClass()  # type: ignore[attr-defined]
    ray.get = get  # type: ignore[attr-defined]
    ray.kill = kill  # type: ignore[attr-defined]
    return ray


def task(folder: Path) -> dict[str, Any]:
    (folder / "in").mkdir()
    (folder / "out").mkdir()
    (folder / "in" / "T2.nii.gz").write_bytes(b"voxels")
    return {
        "token": "t1", "card": CARD.read_text(encoding="utf-8"), "card_dir": None, "parameters": {}, "series": {},
        "inputs": {"T2": str(folder / "in" / "T2.nii.gz")},
        "outputs": {"ProstateMask": str(folder / "out" / "ProstateMask.nii.gz")}, "store": None,
    }  # fmt: skip


def run_job(ray: ModuleType, folder: Path) -> list[tuple[Any, ...]]:
    sent = Sent()
    RayJobs(sent, WorkerOptions(threads=1, ray="127.0.0.1:1"), ray=ray).run(task(folder))
    return sent.messages


def test_a_lost_actor_is_a_ray_error_other_than_the_tasks_own(errors: ModuleType) -> None:
    ray = scripted_ray(errors, [])
    assert actor_lost(ray, errors.ActorDiedError())
    assert actor_lost(ray, errors.ActorUnavailableError("connection lost", None))
    assert actor_lost(ray, errors.NodeDiedError("node lost")) and actor_lost(ray, errors.WorkerCrashedError())
    assert not actor_lost(ray, errors.RayTaskError("run", "Traceback ...", ValueError("bad input")))
    assert not actor_lost(ray, ValueError("not Ray's"))


def test_the_retry_limit_is_the_batchs(errors: ModuleType) -> None:
    lost = LostAttempts()
    assert [lost.add(attempt, errors.ActorDiedError()) for attempt in range(1, RAY_RETRIES + 2)] == [
        *[True] * RAY_RETRIES, False
    ]  # fmt: skip
    assert str(lost).startswith("attempt 1: its Ray actor was lost (ActorDiedError: The actor died unexpectedly")
    assert str(lost).count("; ") == RAY_RETRIES


def test_a_job_whose_actor_is_lost_runs_again_on_a_new_actor(errors: ModuleType, tmp_path: Path) -> None:
    progress = ("progress", "t1", "sliding window", 1, 2)
    files = {"ProstateMask.nii.gz": b"mask", "ProstateMask.statistics.json": b"{}"}
    done = ("succeeded", "t1", {"worker_s": 1.0}, files)
    ray = scripted_ray(errors, [[progress, errors.ActorDiedError()], [progress, done]])
    messages = run_job(ray, tmp_path)
    kinds = [message[0] for message in messages]
    assert kinds == ["progress", "lost", "progress", "succeeded"], messages
    _, token, line, retrying = messages[1]
    assert token == "t1" and retrying is True
    assert line.startswith("attempt 1: its Ray actor was lost (ActorDiedError: The actor died unexpectedly")
    assert ray.started == 2 and ray.killed == 1
    assert (tmp_path / "out" / "ProstateMask.nii.gz").read_bytes() == b"mask"


def test_after_the_limit_the_job_fails_listing_every_lost_attempt(errors: ModuleType, tmp_path: Path) -> None:
    node = errors.NodeDiedError("the node running the actor died")
    ray = scripted_ray(errors, [[node]] * (RAY_RETRIES + 1))
    messages = run_job(ray, tmp_path)
    assert [message[0] for message in messages] == ["lost"] * (RAY_RETRIES + 1) + ["failed"], messages
    assert [message[3] for message in messages[:-1]] == [*[True] * RAY_RETRIES, False]
    _, _, kind, error = messages[-1]
    assert kind == "WorkerError"
    assert error.startswith(f"the job's Ray actor was lost on every attempt ({RAY_RETRIES + 1}): attempt 1: its Ray")
    assert f"attempt {RAY_RETRIES + 1}: its Ray actor was lost (NodeDiedError: the node running" in error
    assert ray.started == RAY_RETRIES + 1
    assert not any((tmp_path / "out").iterdir())


def test_an_error_of_the_actors_own_code_is_not_retried(errors: ModuleType, tmp_path: Path) -> None:
    ray = scripted_ray(errors, [[errors.RayTaskError("run", "Traceback ...", ValueError("bad member name"))]])
    messages = run_job(ray, tmp_path)
    assert [message[0] for message in messages] == ["failed"], messages
    assert messages[0][2] == "WorkerError" and messages[0][3].startswith("the job failed on its Ray actor: ")
    assert ray.started == 1


def test_a_stream_that_ends_without_a_result_fails_at_once(errors: ModuleType, tmp_path: Path) -> None:
    """A fault of the actor's own code (no last message), not a lost actor: no new actor, no retry."""
    ray = scripted_ray(errors, [[("progress", "t1", "sliding window", 1, 2)]])
    messages = run_job(ray, tmp_path)
    assert [message[0] for message in messages] == ["progress", "failed"], messages
    assert messages[-1][2:] == ("WorkerError", "the job's Ray actor ended its stream without a result")
    assert ray.started == 1 and ray.killed == 0


def test_the_job_row_and_view_record_each_loss(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    try:
        job_id = "a" * 32
        upload = {"T2": InputFile("T2.nii.gz", "t2.nii.gz", 10)}
        store.add(Job(job_id, "prostate-taps@1.0.0", {}, upload, {"ProstateMask": "M.nii.gz"}, ".nii.gz",
                      created=time.time()), max_queued=5)  # fmt: skip
        store.claim_next("t1")
        assert store.update_progress(job_id, "t1", progress=0.5, task="sliding window", done=1, total=2)
        line = "attempt 1: its Ray actor was lost (ActorDiedError: The actor died unexpectedly before finishing)"
        assert store.record_lost(job_id, "t1", line, retrying=True)
        assert not store.record_lost(job_id, "stale", line, retrying=True)  # an attempt that no longer counts
        retried = store.get(job_id)
        assert retried is not None and retried.state is JobState.running
        assert (retried.retries, retried.lost, retried.progress, retried.task) == (1, [line], 0.0, "")
        assert retried.message == "its Ray actor was lost: running again on a new actor"
        view = job_view(retried, JobFolders(tmp_path / "data"))
        assert view["attempts"] == 2 and view["lost"] == [line]
        assert store.finish(job_id, "t1", JobState.succeeded)
        assert job_view(store.get(job_id))["attempts"] == 2  # type: ignore[arg-type]
    finally:
        store.close()
