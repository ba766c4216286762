"""Server jobs whose input is DICOM: a zip holding two series (the job names the one to read, else it fails
listing them), and a series on a real Orthanc PACS named by a dicomweb:// URL, pulled only from a PACS the
operator listed in the server's pacs.json. Each job's mask equals a local run on the same series."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import SimpleITK as sitk
from server_helpers import ServerProcess, read_array, wait_for

from deepinfer.cli import run_cli
from dicom_series import UID_ROOT, colin27_block, write_series
from orthanc import PASSWORD, USER, Pacs, running_orthanc
from realparts import need
from tiny_networks import darker_voxels_card

STUDY = f"{UID_ROOT}.0"
AXIAL, LOCALIZER = f"{UID_ROOT}.8.1", f"{UID_ROOT}.8.2"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Pacs, Path]]:
    """A server whose home has a registry with the tiny card and a pacs.json listing a real Orthanc."""
    need("torch", "the tiny TorchScript card needs torch")
    work = tmp_path_factory.mktemp("server-dicom")
    home, cards = work / "home", work / "cards"
    cards.mkdir()
    darker_voxels_card(cards)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPINFER_HOME", str(home))
        assert run_cli(["registry", "add", "local", str(cards)]) == 0
    series = work / "series"
    write_series(colin27_block(), series / "axial", AXIAL)
    write_series(colin27_block((32, 32, 8)), series / "localizer", LOCALIZER, description="localizer")
    with running_orthanc(work / "orthanc") as pacs:
        pacs.upload(sorted((series / "axial").iterdir()))
        entry = {"name": "orthanc", "url": pacs.dicomweb_root, "username": USER, "password": PASSWORD}
        (home / "pacs.json").write_text(json.dumps({"pacs": [entry]}), encoding="utf-8")
        (home / "pacs.json").chmod(0o600)
        server = ServerProcess(work / "data", home, workers=1).start()
        try:
            yield server, pacs, series
        finally:
            server.stop()


@pytest.fixture(scope="module")
def expected(setup: tuple[ServerProcess, Pacs, Path], tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """The mask of a local run on the axial series' folder."""
    server, _, series = setup
    out = tmp_path_factory.mktemp("local") / "mask.nii.gz"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPINFER_HOME", str(server.home))
        assert run_cli(["run", "tiny", "-i", str(series / "axial"), "-o", str(out), "--progress", "none"]) == 0
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert 0 < mask.sum() < mask.size
    return mask


def _zip(series: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(series.rglob("*.dcm")):
            archive.write(file, file.relative_to(series).as_posix())
    return path


def _post(
    http: httpx.Client, fields: dict[str, str], files: dict[str, tuple[str, bytes]] | None = None
) -> httpx.Response:
    """A multipart job request (text parts too, as a browser's FormData sends them)."""
    parts: dict[str, tuple[str | None, str | bytes]] = {k: (None, v) for k, v in {"model": "tiny", **fields}.items()}
    return http.post("/api/jobs", files={**parts, **(files or {})})


def _job(
    http: httpx.Client, fields: dict[str, str], files: dict[str, tuple[str, bytes]] | None = None
) -> dict[str, Any]:
    response = _post(http, fields, files)
    assert response.status_code == 201, response.text
    return wait_for(http, response.json()["id"])


def _mask(http: httpx.Client, job: dict[str, Any], tmp_path: Path) -> np.ndarray:
    assert job["state"] == "succeeded", job["error"]
    return read_array(http.get(job["outputs"]["Mask"]).content, tmp_path, "Mask.nii.gz")


def test_a_zip_of_two_series_needs_the_series_named(
    setup: tuple[ServerProcess, Pacs, Path], expected: np.ndarray, tmp_path: Path
) -> None:
    server, _, series = setup
    archive = _zip(series, tmp_path / "study.zip").read_bytes()
    with server.client() as http:
        failed = _job(http, {}, {"T1": ("study.zip", archive)})
        assert failed["state"] == "failed"
        assert AXIAL in failed["error"]["message"] and LOCALIZER in failed["error"]["message"]
        chosen = _job(http, {"series": AXIAL}, {"T1": ("study.zip", archive)})
        assert np.array_equal(_mask(http, chosen, tmp_path), expected)
        assert chosen["provenance"]["inputs"]["T1"]["dicom_series"]["series_uid"] == AXIAL
        refused = _post(http, {"series": "../etc"}, {"T1": ("s.zip", archive)})
        assert refused.status_code == 422 and "not a DICOM UID" in refused.text


def test_a_series_on_an_allowed_pacs_is_pulled_and_any_other_address_refused(
    setup: tuple[ServerProcess, Pacs, Path], expected: np.ndarray, tmp_path: Path
) -> None:
    server, pacs, _ = setup
    url = f"{pacs.dicomweb_root}/studies/{STUDY}/series/{AXIAL}"
    with server.client() as http:
        job = _job(http, {"T1": url})
        assert np.array_equal(_mask(http, job, tmp_path), expected)
        for other in (url.replace(str(pacs.port), str(pacs.port + 1)), url.replace("dicomweb://", "dicomwebs://")):
            refused = _post(http, {"T1": other})
            assert refused.status_code == 422 and "not a PACS this server may reach" in refused.text
        not_url = _post(http, {"T1": "/etc/passwd"})
        assert not_url.status_code == 422 and "dicomweb:// URL" in not_url.text
        missing = _post(http, {"T1": url.replace(AXIAL, f"{UID_ROOT}.99")})
        assert missing.status_code == 400 and "no instance of this series" in missing.text


def test_a_job_stores_its_seg_and_sr_into_the_source_study_on_an_allowed_pacs(
    setup: tuple[ServerProcess, Pacs, Path], tmp_path: Path
) -> None:
    need("highdicom", "DICOM SEG output needs highdicom")
    server, pacs, _ = setup
    url = f"{pacs.dicomweb_root}/studies/{STUDY}/series/{AXIAL}"
    with server.client() as http:
        job = _job(http, {"T1": url, "output_format": ".dcm", "store": pacs.dicomweb_root})
        assert job["state"] == "succeeded", job["error"]
        assert {"Mask.dcm", "Mask.sr.dcm", "Mask.statistics.csv"} <= set(job["files"])
        assert http.get(f"/api/jobs/{job['id']}/files/jobs.db").status_code == 404  # only what the run wrote
        (study,) = [
            s for s in pacs.request("GET", "/studies?expand") if s["MainDicomTags"]["StudyInstanceUID"] == STUDY
        ]
        modalities = [pacs.request("GET", f"/series/{s}")["MainDicomTags"]["Modality"] for s in study["Series"]]
        assert modalities.count("SEG") >= 1 and modalities.count("SR") >= 1
        nifti = _post(http, {"T1": url, "store": pacs.dicomweb_root})
        assert nifti.status_code == 422 and "output_format .dcm" in nifti.text
        elsewhere = _post(http, {"T1": url, "output_format": ".dcm", "store": "dicomweb://127.0.0.1:1/dicom-web"})
        assert elsewhere.status_code == 422 and "not a PACS this server may reach" in elsewhere.text
