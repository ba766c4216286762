"""DICOMweb inputs from a real Orthanc PACS: the URL forms (and hostile ones), credentials from the environment
or pacs.json (never the command line), the server's allow-list, and ``deepinfer run`` on a series pulled from
the PACS giving the same mask as on the same files read from a folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from deepinfer._exceptions import FetchError, InputError, UsageError
from deepinfer.cli import run_cli
from deepinfer.dicomweb import (
    PASSWORD_VARIABLE,
    USER_VARIABLE,
    allowed_pacs,
    credentials,
    fetch_series,
    open_client,
    parse_location,
)
from dicom_series import UID_ROOT, colin27_block, write_series
from orthanc import PASSWORD, USER, Pacs, running_orthanc
from realparts import need
from tiny_networks import darker_voxels_card

STUDY = f"{UID_ROOT}.0"
SERIES, OTHER = f"{UID_ROOT}.7.1", f"{UID_ROOT}.7.2"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1/dicom-web/studies/1/series/2", "starts with dicomweb://"),
        ("dicomweb://user:pw@127.0.0.1/dicom-web/studies/1/series/2", "user information"),
        ("dicomweb://127.0.0.1/dicom-web/studies/1/series/2?x=1", "query or fragment"),
        ("dicomweb://127.0.0.1/dicom-web/studies/../series/2", "'..' in a DICOMweb URL's path"),
        ("dicomweb://127.0.0.1/dicom-web/studies/1.2/series/..%2f", "not a DICOM UID"),
        ("dicomweb://127.0.0.1/../studies/1/series/2", "'..' in a DICOMweb URL's path"),
        ("dicomweb://127.0.0.1/dicom;web/studies/1/series/2", "not a plain path"),
        ("dicomweb://127.0.0.1/dicom-web/studies/1/series/2/instances/3", "expected .../studies"),
        ("dicomweb://127.0.0.1:99999/dicom-web", "port"),
        ("dicomweb://127.0.0.1/dicom web", "spaces"),
        (f"dicomweb://h/studies/{'1' * 65}", "at most 64"),
    ],
)
def test_hostile_or_malformed_urls_are_refused_before_any_request(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_location(url)


def test_a_url_names_root_study_and_series() -> None:
    location = parse_location("dicomwebs://PACS.example.org:8443/dicom-web/studies/1.2.3/series/4.5")
    assert (location.base_url, location.study, location.series) == (
        "https://pacs.example.org:8443/dicom-web", "1.2.3", "4.5"
    )  # fmt: skip
    assert parse_location("dicomweb://127.0.0.1:8042/dicom-web/").base_url == "http://127.0.0.1:8042/dicom-web"


def _pacs_file(home: Path, mode: int, **entry: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "pacs.json"
    path.write_text(json.dumps({"pacs": [{"name": "archive", "url": "dicomweb://127.0.0.1:8042/dicom-web", **entry}]}))
    path.chmod(mode)


def test_credentials_come_from_the_environment_or_a_private_pacs_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(USER_VARIABLE, raising=False)
    location = parse_location(f"dicomweb://127.0.0.1:8042/dicom-web/studies/{STUDY}/series/{SERIES}")
    _pacs_file(tmp_path, 0o600, username="alice", password="s3cret")
    found = credentials(location, tmp_path)
    assert (found.name, found.username, found.password) == ("archive", "alice", "s3cret")
    assert "s3cret" not in repr(found)
    monkeypatch.setenv(USER_VARIABLE, "bob")
    monkeypatch.setenv(PASSWORD_VARIABLE, "other")
    assert (credentials(location, tmp_path).username, credentials(location, tmp_path).password) == ("bob", "other")
    _pacs_file(tmp_path, 0o644, username="alice", password="s3cret")
    with pytest.raises(InputError, match="others may read it"):
        allowed_pacs(location, tmp_path)


def test_the_server_reaches_only_the_pacs_its_operator_listed(tmp_path: Path) -> None:
    _pacs_file(tmp_path, 0o600)
    assert allowed_pacs(parse_location("dicomweb://127.0.0.1:8042/dicom-web/studies/1/series/2"), tmp_path).name
    for other in ("dicomweb://127.0.0.1:8043/dicom-web/studies/1", "dicomwebs://127.0.0.1:8042/dicom-web/studies/1"):
        with pytest.raises(UsageError, match="not a PACS this server may reach"):
            allowed_pacs(parse_location(other), tmp_path)
    with pytest.raises(UsageError, match="lists no PACS"):
        allowed_pacs(parse_location("dicomweb://127.0.0.1:8042/dicom-web"), tmp_path / "empty")


# ------------------------------------------------------------------------------------------ a real Orthanc


@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pacs, Path]]:
    """Orthanc holding one study with two series of real Colin27 slices (axial, and another block)."""
    work = tmp_path_factory.mktemp("pacs")
    with running_orthanc(work / "orthanc") as server:
        block = colin27_block()
        folder = work / "series"
        server.upload(write_series(block, folder, SERIES))
        server.upload(write_series(colin27_block((32, 32, 8)), work / "other", OTHER, description="localizer"))
        yield server, folder


@pytest.fixture
def with_credentials(monkeypatch: pytest.MonkeyPatch, deepinfer_home: Path) -> None:
    monkeypatch.setenv(USER_VARIABLE, USER)
    monkeypatch.setenv(PASSWORD_VARIABLE, PASSWORD)


def test_a_series_pulled_from_the_pacs_is_the_series_that_was_stored(
    pacs: tuple[Pacs, Path], tmp_path: Path, with_credentials: None, deepinfer_home: Path
) -> None:
    server, folder = pacs
    location = parse_location(f"{server.dicomweb_root}/studies/{STUDY}/series/{SERIES}")
    seen: list[tuple[int, int]] = []
    files = fetch_series(
        location, tmp_path / "pulled", open_client(location, credentials(location, deepinfer_home)),
        lambda task, done, total: seen.append((done, total)),
    )  # fmt: skip
    assert len(files) == len(list(folder.iterdir())) == 16 and seen[-1] == (16, 16)
    ours = sitk.GetArrayFromImage(sitk.ReadImage([str(p) for p in sorted(files)]))
    assert ours.shape == (16, 48, 40)
    with pytest.raises(InputError, match="no instance"):
        missing = parse_location(f"{server.dicomweb_root}/studies/{STUDY}/series/{UID_ROOT}.9")
        fetch_series(missing, tmp_path / "none", open_client(missing, credentials(missing, deepinfer_home)))


def test_wrong_credentials_give_one_clear_error(
    pacs: tuple[Pacs, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deepinfer_home: Path
) -> None:
    server, _ = pacs
    monkeypatch.setenv(USER_VARIABLE, USER)
    monkeypatch.setenv(PASSWORD_VARIABLE, "wrong")
    location = parse_location(f"{server.dicomweb_root}/studies/{STUDY}/series/{SERIES}")
    with pytest.raises(FetchError, match="HTTP 401"):
        fetch_series(location, tmp_path / "x", open_client(location, credentials(location, deepinfer_home)))


def test_run_on_a_pacs_series_equals_run_on_its_files(
    pacs: tuple[Pacs, Path], tmp_path: Path, with_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    need("torch", "the tiny TorchScript card needs torch")
    server, folder = pacs
    (tmp_path / "card").mkdir()
    card = darker_voxels_card(tmp_path / "card")
    url = f"{server.dicomweb_root}/studies/{STUDY}/series/{SERIES}"
    from_pacs, from_files = tmp_path / "pacs.nii.gz", tmp_path / "files.nii.gz"
    assert run_cli(["run", str(card), "-i", url, "-o", str(from_pacs), "--progress", "none"]) == 0
    assert run_cli(["run", str(card), "-i", str(folder), "-o", str(from_files), "--progress", "none"]) == 0
    ours, theirs = (sitk.ReadImage(str(p)) for p in (from_pacs, from_files))
    mask = sitk.GetArrayFromImage(ours)
    assert 0 < mask.sum() < mask.size
    assert np.array_equal(sitk.GetArrayFromImage(ours), sitk.GetArrayFromImage(theirs))
    assert ours.GetOrigin() == theirs.GetOrigin() and ours.GetDirection() == theirs.GetDirection()
    provenance = json.loads((tmp_path / "pacs.provenance.json").read_text(encoding="utf-8"))
    assert provenance["inputs"]["T1"]["dicom_series"]["series_uid"] == SERIES
    capsys.readouterr()
    code = run_cli(["run", str(card), "-i", url.replace(SERIES, "1.2.3"), "-o", str(tmp_path / "no.nii.gz")])
    assert code == 3 and "no instance of this series" in capsys.readouterr().err


def test_store_puts_the_seg_and_its_sr_into_the_source_study(
    pacs: tuple[Pacs, Path], tmp_path: Path, with_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pull a series, segment it, store the SEG and SR back (STOW-RS): Orthanc's own REST API then lists them in
    the study of the series, beside it."""
    need("torch", "the tiny TorchScript card needs torch")
    need("highdicom", "DICOM SEG output needs highdicom")
    server, _ = pacs
    (tmp_path / "card").mkdir()
    card = darker_voxels_card(tmp_path / "card")
    url = f"{server.dicomweb_root}/studies/{STUDY}/series/{SERIES}"
    args = ["run", str(card), "-i", url, "-o", str(tmp_path / "mask.dcm"), "--progress", "none"]
    assert run_cli([*args, "--store", server.dicomweb_root]) == 0
    assert "stored mask.dcm, mask.sr.dcm" in capsys.readouterr().err
    (study,) = [s for s in server.request("GET", "/studies?expand") if s["MainDicomTags"]["StudyInstanceUID"] == STUDY]
    modalities = sorted(server.request("GET", f"/series/{s}")["MainDicomTags"]["Modality"] for s in study["Series"])
    assert modalities == ["MR", "MR", "SEG", "SR"]  # the two source series, and what the run stored
    assert run_cli([*args[:-2], "--store", f"{server.dicomweb_root}/studies/1.2.3"]) == 2
    assert "belongs to study" in capsys.readouterr().err
    assert run_cli(["run", str(card), "-i", url, "-o", str(tmp_path / "m.nii.gz"), "--store", url]) == 2
    assert "give the labelmap output as -o NAME.dcm" in capsys.readouterr().err
