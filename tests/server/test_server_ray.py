"""deepinfer serve --ray on a real Ray cluster started here on loopback (one node, one CPU): a job runs on the
server's worker's actor with the same API, its progress streamed and its outputs equal to a local run's; a
running job is cancelled (its worker stopped, and the actor with it) and the next job runs on a fresh actor.
The cluster and the server are stopped by their PIDs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import SimpleITK as sitk
from server_helpers import ServerProcess, submit, write_crops

from deepinfer.client import sse_events
from ray_cluster import RayCluster, wait_for
from realparts import need


@pytest.fixture(scope="module")
def cluster(shared_home: Path) -> Iterator[RayCluster]:
    need("ray", "the server's Ray tests need Ray (pip install 'deepinfer[ray]')")
    nodes = Path(tempfile.mkdtemp(prefix="dray-"))  # Ray's socket paths must stay short
    ray_cluster = RayCluster(nodes, shared_home)
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # the server (a child of this process) joins without a token
    try:
        ray_cluster.start_node(cpus=1)
        yield ray_cluster
    finally:
        ray_cluster.stop()
        if saved is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved
        shutil.rmtree(nodes, ignore_errors=True)
    assert ray_cluster.pids() == []


@pytest.fixture(scope="module")
def http(cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory, shared_home: Path) -> Iterator[httpx.Client]:
    folder = tmp_path_factory.mktemp("server-ray")
    extra = ["--ray", cluster.address, "--runtime", "onnxruntime"]
    server = ServerProcess(folder / "data", shared_home, workers=1, extra=extra).start()
    try:
        with server.client() as client:
            yield client
    finally:
        server.stop()


@pytest.fixture(scope="module")
def crop(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    return write_crops(colin27, tmp_path_factory.mktemp("crops"))["A"]


def actor_pids(cluster: RayCluster) -> set[int]:
    return set(cluster.actor_pids("JobActor"))


def follow(http: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    events = []
    with http.stream("GET", f"/api/jobs/{job_id}/events", timeout=httpx.Timeout(10, read=300)) as stream:
        for event, data in sse_events(stream.iter_lines()):
            if event == "status":
                events.append(json.loads(data))
    return events


def test_a_job_on_ray_reports_progress_and_matches_a_local_run(
    cluster: RayCluster, http: httpx.Client, crop: tuple[Path, float], shared_home: Path, tmp_path: Path
) -> None:
    volume, threshold = crop
    created = submit(http, volume, {"threshold": threshold})
    assert created.status_code == 201, created.text
    events = follow(http, created.json()["id"])
    final = http.get(f"/api/jobs/{created.json()['id']}").json()
    assert final["state"] == "succeeded", final
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress) and any(e["state"] == "running" and e["task"] for e in events)
    assert len(actor_pids(cluster)) == 1  # the job ran on the worker's actor, which stays (networks loaded)

    local = tmp_path / "seg.nii.gz"
    done = subprocess.run(
        [sys.executable, "-m", "deepinfer", "run", "prostate-taps", "-i", str(volume), "-o", str(local),
         "--threshold", str(threshold), "--threads", "1", "--runtime", "onnxruntime", "--progress", "none"],
        env={**os.environ, "DEEPINFER_HOME": str(shared_home)}, capture_output=True, encoding="utf-8", timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    served = tmp_path / "served.nii.gz"
    served.write_bytes(http.get(final["outputs"]["ProstateMask"]).content)
    expected = sitk.GetArrayFromImage(sitk.ReadImage(str(local)))
    assert expected.any() and np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(served))), expected)
    (statistics,) = [url for name, url in final["files"].items() if name.endswith("Mask.statistics.json")]
    local_rows = json.loads((tmp_path / "seg.statistics.json").read_text(encoding="utf-8"))["labels"]
    assert http.get(statistics).json()["labels"] == local_rows  # the same statistics, label for label


def test_a_running_job_on_ray_is_cancelled_and_the_next_one_runs(
    cluster: RayCluster, http: httpx.Client, crop: tuple[Path, float]
) -> None:
    volume, threshold = crop
    job_id = submit(http, volume, {"threshold": threshold}).json()["id"]
    wait_for(lambda: http.get(f"/api/jobs/{job_id}").json()["state"] != "queued", 120.0, "the job to start")
    running = actor_pids(cluster)
    assert running, "the job runs on the worker's actor"
    cancelled = http.post(f"/api/jobs/{job_id}/cancel")
    assert cancelled.status_code in (200, 202), cancelled.text
    wait_for(lambda: http.get(f"/api/jobs/{job_id}").json()["state"] == "cancelled", 60.0, "the job to be cancelled")
    wait_for(lambda: not running & actor_pids(cluster), 60.0, "the cancelled job's actor to end")
    started = time.monotonic()
    following = submit(http, volume, {"threshold": threshold}).json()["id"]
    follow(http, following)
    assert http.get(f"/api/jobs/{following}").json()["state"] == "succeeded"
    assert time.monotonic() - started < 300
    assert actor_pids(cluster) and not running & actor_pids(cluster)  # a fresh actor


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
