"""An imported MONAI bundle served like any other card: imported with ``card import-monai``, published with
``registry build``, added to the server's home with ``registry add``; a job submitted through the HTTP API gives
the labelmap that ``deepinfer run`` gives on the same real volume (Colin27), voxel for voxel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from server_helpers import ServerProcess, read_array, submit, wait_for

from deepinfer.cli import run_cli
from monai_bundles import IMPORTED_ID, colin27_block, monai_registry_home
from realparts import need


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    need("monai.bundle", "the bundle is made with MONAI's tooling")
    work = tmp_path_factory.mktemp("server-imported")
    image = colin27_block(work / "t1.nii.gz")
    home = monai_registry_home(work, image)
    process = ServerProcess(work / "data", home, workers=1).start()
    try:
        yield process, image
    finally:
        process.stop()


def test_a_job_gives_the_local_runs_labelmap(
    server: tuple[ServerProcess, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process, image = server
    with process.client() as http:
        listed = [model["id"] for model in http.get("/api/models").json()]
        assert IMPORTED_ID in listed
        created = submit(http, image, model=IMPORTED_ID, field="image")
        assert created.status_code in (200, 201, 202), created.text
        final = wait_for(http, created.json()["id"])
        assert final["state"] == "succeeded", final
        response = http.get(f"/api/jobs/{final['id']}/outputs/segmentation")
        assert response.status_code == 200
        served = read_array(response.content, tmp_path, "served.nii.gz")
    monkeypatch.setenv("DEEPINFER_HOME", str(process.home))
    local = tmp_path / "local.nii.gz"
    assert run_cli(["run", IMPORTED_ID, "-i", str(image), "-o", str(local), "--progress", "none"]) == 0
    expected = sitk.GetArrayFromImage(sitk.ReadImage(str(local)))
    assert np.array_equal(served, expected)
    assert set(np.unique(served)) == {0, 1, 2}
