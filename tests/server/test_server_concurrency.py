"""Twenty concurrent jobs on a real server (two warm workers): every one completes, and each output equals a local
`run_model` of the same input and parameters.

The server and the references run OpenVINO in fast mode (bf16 where the CPU has it): what is tested is the queue,
the workers and the transfers, which do not depend on the runtime, and one TAPS window costs about half the time
of exact mode. The outputs must still be equal bit for bit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from server_helpers import TOKEN, ServerProcess, local_run, write_crops

from deepinfer.client import ServerClient

JOBS = 20
RUNTIME, PRECISION = "openvino", "fast"


@pytest.fixture(scope="module")
def crops(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, float]]:
    return write_crops(colin27, tmp_path_factory.mktemp("crops"))


@pytest.fixture(scope="module")
def references(
    crops: dict[str, tuple[Path, float]], tmp_path_factory: pytest.TempPathFactory, shared_home: Path
) -> dict[str, dict[str, np.ndarray]]:
    folder = tmp_path_factory.mktemp("reference")
    return {
        name: local_run(path, threshold, folder, shared_home, RUNTIME, PRECISION)
        for name, (path, threshold) in crops.items()
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_home: Path) -> Iterator[ServerProcess]:
    extra = ["--runtime", RUNTIME, "--precision", PRECISION]
    folder = tmp_path_factory.mktemp("server-concurrency")
    process = ServerProcess(folder / "data", shared_home, workers=2, extra=extra).start()
    yield process
    process.stop()


def run_one(
    server: ServerProcess, index: int, crop: str, volume: Path, threshold: float, folder: Path
) -> dict[str, Any]:
    """Submit, follow the events, download every output: what a thin client does."""
    with ServerClient(server.url, TOKEN) as client:
        job_id = client.submit("prostate-taps", {"T2": volume}, {"threshold": threshold})
        events: list[dict[str, Any]] = []
        final = client.follow(job_id, events.append, timeout=600)
        paths = {}
        if final["state"] == "succeeded":
            for name in final["outputs"]:
                paths[name] = folder / f"{index}-{name}.nii.gz"
                client.download(job_id, name, paths[name])
    return {"crop": crop, "final": final, "events": len(events), "paths": paths}


def test_twenty_concurrent_jobs_all_complete_with_the_local_outputs(
    server: ServerProcess,
    crops: dict[str, tuple[Path, float]],
    references: dict[str, dict[str, np.ndarray]],
    tmp_path: Path,
) -> None:
    import SimpleITK as sitk

    plan = [(i, "A" if i % 2 == 0 else "B") for i in range(JOBS)]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        results = list(pool.map(lambda item: run_one(server, item[0], item[1], *crops[item[1]], tmp_path), plan))
    seconds = time.perf_counter() - start
    assert [r["final"]["state"] for r in results] == ["succeeded"] * JOBS, [r["final"].get("error") for r in results]
    for result in results:
        expected = references[result["crop"]]
        assert expected["ProstateMask"].any()
        for name, path in result["paths"].items():
            served = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
            assert served.dtype == expected[name].dtype and np.array_equal(served, expected[name]), name
        assert result["final"]["attempts"] == 1 and result["events"] >= 1
    opened = [r["final"]["timings"]["networks_opened"] for r in results]
    # each of the two workers opens the network for its first job, then keeps it: every other job opens none
    assert set(opened) <= {0, 1} and 1 <= sum(opened) <= 2, opened
    print(f"\n{JOBS} concurrent jobs on 2 workers: {seconds:.1f} s")
