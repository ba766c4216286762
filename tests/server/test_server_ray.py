"""deepinfer serve --ray on the session's real Ray cluster on loopback (``ray_cluster`` in tests/conftest.py: a
head that runs no actor and two nodes of one CPU each): a job runs on the server's worker's actor with the same
API, its progress streamed and its outputs equal to a local run's; a job whose actor dies runs again on a new one,
and is cancelled during that retry (its worker stopped, and the actor with it), the next job running on a fresh
actor; a job whose node is lost mid-job (its raylet killed by PID) runs again on another node, with the same mask
and the loss recorded. The server is stopped by its PID, the cluster by its PIDs at the end of the session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import SimpleITK as sitk
from server_helpers import ServerProcess, submit, write_crops

from deepinfer.batch import RAY_RETRIES
from deepinfer.client import job_warnings, sse_events
from ray_cluster import RayCluster, kill_node, node_of, wait_for

LOST = "attempt 1: its Ray actor was lost ("


@pytest.fixture(scope="module")
def http(
    ray_session_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory, shared_home: Path
) -> Iterator[httpx.Client]:
    folder = tmp_path_factory.mktemp("server-ray")
    extra = ["--ray", ray_session_cluster.address, "--runtime", "onnxruntime"]
    server = ServerProcess(folder / "data", shared_home, workers=1, extra=extra).start()
    try:
        with server.client() as client:
            yield client
    finally:
        server.stop()


@pytest.fixture(scope="module")
def crop(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    return write_crops(colin27, tmp_path_factory.mktemp("crops"))["A"]


@pytest.fixture(scope="module")
def local_run(crop: tuple[Path, float], shared_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``deepinfer run`` on the crop in a process of its own, as a user runs it locally: the output's path (its
    statistics sidecar beside it)."""
    volume, threshold = crop
    output = tmp_path_factory.mktemp("local") / "seg.nii.gz"
    done = subprocess.run(
        [sys.executable, "-m", "deepinfer", "run", "prostate-taps", "-i", str(volume), "-o", str(output),
         "--threshold", str(threshold), "--threads", "1", "--runtime", "onnxruntime", "--progress", "none"],
        env={**os.environ, "DEEPINFER_HOME": str(shared_home)}, capture_output=True, encoding="utf-8", timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return output


def actor_pids(cluster: RayCluster) -> set[int]:
    return set(cluster.actor_pids("JobActor"))


def follow(http: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    events = []
    with http.stream("GET", f"/api/jobs/{job_id}/events", timeout=httpx.Timeout(10, read=300)) as stream:
        for event, data in sse_events(stream.iter_lines()):
            if event == "status":
                events.append(json.loads(data))
    return events


def view(http: httpx.Client, job_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = http.get(f"/api/jobs/{job_id}").json()
    return answer


def mask(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def served_mask(http: httpx.Client, final: dict[str, Any], folder: Path) -> np.ndarray:
    served = folder / "served.nii.gz"
    served.write_bytes(http.get(final["outputs"]["ProstateMask"]).content)
    return mask(served)


def test_a_job_on_ray_reports_progress_and_matches_a_local_run(
    ray_cluster: RayCluster, http: httpx.Client, crop: tuple[Path, float], local_run: Path, tmp_path: Path
) -> None:
    volume, threshold = crop
    created = submit(http, volume, {"threshold": threshold})
    assert created.status_code == 201, created.text
    events = follow(http, created.json()["id"])
    final = view(http, created.json()["id"])
    assert final["state"] == "succeeded", final
    assert final["attempts"] == 1 and final["lost"] == []
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress) and any(e["state"] == "running" and e["task"] for e in events)
    assert len(actor_pids(ray_cluster)) == 1  # the job ran on the worker's actor, which stays (networks loaded)

    expected = mask(local_run)
    assert expected.any() and np.array_equal(served_mask(http, final, tmp_path), expected)
    (statistics,) = [url for name, url in final["files"].items() if name.endswith("Mask.statistics.json")]
    local_rows = json.loads(local_run.with_name("seg.statistics.json").read_text(encoding="utf-8"))["labels"]
    assert http.get(statistics).json()["labels"] == local_rows  # the same statistics, label for label


def test_a_job_whose_actor_dies_runs_again_and_is_cancelled_during_the_retry(
    ray_cluster: RayCluster, http: httpx.Client, crop: tuple[Path, float]
) -> None:
    """The actor's process is killed (SIGKILL, by its PID) while it runs the job: the job runs again on a new
    actor, the loss recorded; cancelled then, the job ends cancelled, the new actor ends with its worker, and the
    next job runs on a fresh actor."""
    volume, threshold = crop
    job_id = submit(http, volume, {"threshold": threshold}).json()["id"]
    wait_for(lambda: view(http, job_id)["state"] != "queued", 120.0, "the job to start")
    wait_for(lambda: bool(actor_pids(ray_cluster)), 60.0, "the worker's actor")
    (first,) = actor_pids(ray_cluster)  # the worker's actor (kept from the last job), running this one
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: view(http, job_id)["lost"] != [], 60.0, "the lost actor to be recorded")
    retrying = view(http, job_id)
    assert retrying["state"] == "running" and retrying["attempts"] == 2, retrying
    (line,) = retrying["lost"]
    assert line.startswith(LOST + "ActorDiedError: "), line
    wait_for(lambda: bool(actor_pids(ray_cluster) - {first}), 60.0, "a new actor for the retry")
    second = actor_pids(ray_cluster) - {first}

    cancelled = http.post(f"/api/jobs/{job_id}/cancel")
    assert cancelled.status_code in (200, 202), cancelled.text
    wait_for(lambda: view(http, job_id)["state"] == "cancelled", 60.0, "the job to be cancelled")
    wait_for(lambda: not second & actor_pids(ray_cluster), 60.0, "the cancelled retry's actor to end")
    following = submit(http, volume, {"threshold": threshold}).json()["id"]
    follow(http, following)
    final = view(http, following)
    assert final["state"] == "succeeded" and final["attempts"] == 1 and final["lost"] == [], final
    assert actor_pids(ray_cluster) and not (second | {first}) & actor_pids(ray_cluster)  # a fresh actor


def test_a_job_whose_node_is_lost_runs_again_on_another_node(
    ray_cluster: RayCluster, http: httpx.Client, crop: tuple[Path, float], local_run: Path, tmp_path: Path
) -> None:
    """Once the job computes on the worker's actor, the node running that actor is lost (``kill_node``: its
    raylet killed by PID, then its other processes; never the head, which runs no actor). The job runs again on a
    new actor on the other node and succeeds with the local run's mask; its view and events record the lost
    attempt. (The next test to use the cluster gets a new node in place of the lost one.)"""
    volume, threshold = crop
    job_id = submit(http, volume, {"threshold": threshold}).json()["id"]
    wait_for(lambda: view(http, job_id)["task"] is not None, 120.0, "the job's network to start")
    (actor,) = actor_pids(ray_cluster)
    lost = node_of(ray_cluster, actor)
    assert lost != ray_cluster.nodes[0]  # never the head: it runs no actor
    kill_node(ray_cluster, lost)
    events = follow(http, job_id)
    final = view(http, job_id)
    assert final["state"] == "succeeded", final
    assert final["attempts"] == 2 and len(final["lost"]) == 1 <= RAY_RETRIES, final
    assert final["lost"][0].startswith(LOST), final["lost"]
    assert events[-1]["lost"] == final["lost"]  # the events carry it too
    (warning,) = job_warnings(final)  # what the thin client prints (deepinfer run --server)
    assert warning.endswith(f"({final['lost'][0]})") and "ran it again" in warning
    (retried,) = actor_pids(ray_cluster)
    assert node_of(ray_cluster, retried) != lost
    assert np.array_equal(served_mask(http, final, tmp_path), mask(local_run))


def test_without_ray_installed_serve_ray_says_how_to_install_it(tmp_path: Path) -> None:
    """In a child process where ``import ray`` fails: one line, exit 2, no server started."""
    script = (
        "import sys; sys.modules['ray'] = None\n"
        "from deepinfer.cli import run_cli\n"
        f"sys.exit(run_cli(['serve', '--ray', 'auto', '--data-dir', {str(tmp_path / 'data')!r}]))\n"
    )
    env = {**os.environ, "DEEPINFER_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, encoding="utf-8", env=env, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "pip install 'deepinfer[ray]'" in lines[0]
