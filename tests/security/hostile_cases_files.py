"""Hostile corpus, part 2: archives, the cache and artifact sources, ONNX external data, cards, image headers."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable
from pathlib import Path

from hostile_helpers import (
    DATA,
    HOSTS,
    Attack,
    RoutedTransport,
    card_document,
    hostile,
    nifti_bytes,
    nifti_file,
    onnx_with_external_data,
    outside,
    sha256,
    tar_member,
    url_artifact,
    write_tar,
    write_zip,
    zip_symlink,
)

from deepinfer import CardError, FetchError, InputError, IntegrityError
from deepinfer._config import Settings
from deepinfer.card import Artifact, import_legacy, parse_card
from deepinfer.store import ArtifactStore, ExtractLimits, extract_archive

# --------------------------------------------------------------------------- archives


def extract(build: Callable[[Path], Path], limits: ExtractLimits | None = None) -> Attack:
    def attack(root: Path) -> object:
        return extract_archive(build(root), root / "out", limits)

    return attack


def tar_of(*members: Callable[[Path], tuple[tarfile.TarInfo, bytes]]) -> Callable[[Path], Path]:
    return lambda root: write_tar(root / "a.tar.gz", [member(root) for member in members])


def regular(name: str, data: bytes = b"evil") -> Callable[[Path], tuple[tarfile.TarInfo, bytes]]:
    return lambda root: (tar_member(name, data=data), data)


def special(name: str, kind: bytes, link: str = "") -> Callable[[Path], tuple[tarfile.TarInfo, bytes]]:
    return lambda root: (tar_member(name, kind, link=link), b"")


_SMALL = ExtractLimits(max_members=10, max_member_bytes=1 << 20, max_total_bytes=2 << 20)
ARCHIVE_CASES = [
    hostile("tar-dotdot", extract(tar_of(regular("../evil.txt"))), FetchError, r"contains '\.\.'"),
    hostile(
        "tar-absolute",
        extract(lambda r: write_tar(r / "a.tgz", [(tar_member(str(outside(r) / "evil")), b"x")])),
        FetchError,
        "absolute",
    ),
    hostile(
        "tar-symlink-out",
        extract(tar_of(special("etc", tarfile.SYMTYPE, "/etc"), regular("etc/evil"))),
        FetchError,
        "symbolic link",
    ),
    hostile(
        "tar-hardlink-etc",
        extract(tar_of(special("passwd", tarfile.LNKTYPE, "/etc/passwd"))),
        FetchError,
        "hard link",
    ),
    hostile("tar-char-device", extract(tar_of(special("null", tarfile.CHRTYPE))), FetchError, "character device"),
    hostile("tar-block-device", extract(tar_of(special("sda", tarfile.BLKTYPE))), FetchError, "block device"),
    hostile("tar-fifo", extract(tar_of(special("pipe", tarfile.FIFOTYPE))), FetchError, "FIFO"),
    hostile("tar-over-cap", extract(tar_of(regular("big", b"x" * (2 << 20))), _SMALL), FetchError, "cap"),
    hostile("tar-duplicate", extract(tar_of(regular("a"), regular("a"))), FetchError, "appears twice"),
    hostile(
        "tar-total-over-cap",
        extract(tar_of(*[regular(f"m{n}", b"x" * 900_000) for n in range(3)]), _SMALL),
        FetchError,
        "the archive passes the cap",
    ),
    hostile(
        "tar-too-many-members",
        extract(tar_of(*[regular(f"m{n}") for n in range(11)]), _SMALL),
        FetchError,
        "more than 10 members",
    ),
    hostile("zip-dotdot", extract(lambda r: write_zip(r / "a.zip", [("../evil", b"x")])), FetchError, r"'\.\.'"),
    hostile("zip-absolute", extract(lambda r: write_zip(r / "a.zip", [("/tmp/evil", b"x")])), FetchError, "absolute"),
    hostile(
        "zip-backslash",
        extract(lambda r: write_zip(r / "a.zip", [("..\\..\\evil", b"x")])),
        FetchError,
        "not a plain relative path",
    ),
    hostile(
        "zip-symlink",
        extract(lambda r: write_zip(r / "a.zip", [zip_symlink("etc", "/etc")])),
        FetchError,
        "symbolic link",
    ),
    hostile(
        "zip-bomb",
        extract(lambda r: write_zip(r / "a.zip", [("zeros", b"\0" * (16 << 20))]), _SMALL),
        FetchError,
        "over the cap",
    ),
]

# --------------------------------------------------------------------------- the cache and artifact sources


def planted_in_cache(make: Callable[[Path, Path], None]) -> Attack:
    def attack(root: Path) -> object:
        store = ArtifactStore(root / "home", Settings(allowed_hosts=HOSTS), transport=RoutedTransport({}, DATA))
        artifact = url_artifact("https://github.com/m.onnx")
        store.root.mkdir(parents=True)
        make(store.path_for(artifact), outside(root) / "victim.bin")
        return store.fetch(artifact)

    return attack


def file_source(path: Callable[[Path], str], setup: Callable[[Path], None] = lambda folder: None) -> Attack:
    def attack(root: Path) -> object:
        folder = root / "card"
        folder.mkdir()
        setup(folder)
        artifact = Artifact.model_validate(
            {"name": "w", "sha256": sha256(DATA), "size": len(DATA), "source": {"kind": "file", "path": path(root)}}
        )
        return ArtifactStore(root / "home", Settings(allowed_hosts=HOSTS)).fetch(artifact, folder)

    return attack


class _NoPip:
    def download(self, package: str, version: str, dest: Path) -> None:
        raise AssertionError("the member path must be refused before anything is downloaded")


def other_source(source: dict[str, str]) -> Attack:
    def attack(root: Path) -> object:
        artifact = Artifact.model_validate({"name": "w", "sha256": sha256(DATA), "size": len(DATA), "source": source})
        return ArtifactStore(root / "home", Settings(allowed_hosts=HOSTS), pip=_NoPip()).fetch(artifact)

    return attack


def _link_out(folder: Path) -> None:
    (folder / "w.bin").symlink_to(folder.parent.parent / "outside" / "victim.bin")


STORE_CASES = [
    hostile("cache-symlink-out", planted_in_cache(lambda e, v: e.symlink_to(v)), IntegrityError, "symbolic link"),
    hostile("cache-folder-entry", planted_in_cache(lambda e, v: e.mkdir()), IntegrityError, "not a regular file"),
    hostile("file-source-dotdot", file_source(lambda r: "../outside/victim.bin"), FetchError, r"'\.\.'"),
    hostile("file-source-absolute", file_source(lambda r: str(outside(r) / "victim.bin")), FetchError, "absolute"),
    hostile("file-source-symlink", file_source(lambda r: "w.bin", _link_out), FetchError, "symlinks are refused"),
    hostile(
        "debian-path-escape",
        other_source({"kind": "debian", "package": "base-files", "path": "/usr/share/../../etc/passwd"}),
        FetchError,
        "must lie under /usr/share",
    ),
    hostile(
        "wheel-member-dotdot",
        other_source({"kind": "wheel", "package": "x", "version": "1.0", "path": "../../etc/passwd"}),
        FetchError,
        r"'\.\.'",
    ),
]

# --------------------------------------------------------------------------- ONNX external data


def onnx_external(location: Callable[[Path], str], setup: Callable[[Path], None] = lambda root: None) -> Attack:
    """Open a model whose tensor data lives at ``location`` with the real ONNX runner."""

    def attack(root: Path) -> object:
        from deepinfer.runners import OnnxNetwork

        model = onnx_with_external_data(root / "model" / "net.onnx", location(root))
        setup(root)
        return OnnxNetwork(model)

    return attack


def _weights_link(root: Path) -> None:
    (root / "model" / "weights.bin").symlink_to(outside(root) / "victim.bin")


def onnx_external_auto(location: str) -> Attack:
    """The same model under ``--runtime auto``: the contest between runtimes must not swallow the refusal."""

    def attack(root: Path) -> object:
        import numpy as np

        from deepinfer.runners import NetworkCache

        model = onnx_with_external_data(root / "model" / "net.onnx", location)
        digests = {"w": sha256(model.read_bytes())}
        cache = NetworkCache("onnx", lambda name: model, 1, runtime="auto", precision="exact", tolerance=1e-4,
                             digests=digests, home=root / "home")  # fmt: skip
        return cache("w")(np.zeros((1, 1, 4, 4, 4), np.float32))

    return attack


_EXTERNAL = "refused, external data"
ONNX_CASES = [
    hostile("onnx-location-outside-auto", onnx_external_auto("../../outside/victim.bin"), IntegrityError, _EXTERNAL),
    hostile("onnx-location-absolute-auto", onnx_external_auto("/etc/passwd"), IntegrityError, _EXTERNAL),
    hostile("onnx-location-etc-passwd", onnx_external(lambda r: "../../etc/passwd"), IntegrityError, _EXTERNAL),
    hostile("onnx-location-outside", onnx_external(lambda r: "../../outside/victim.bin"), IntegrityError, _EXTERNAL),
    hostile("onnx-location-absolute", onnx_external(lambda r: "/etc/passwd"), IntegrityError, _EXTERNAL),
    hostile("onnx-location-symlink", onnx_external(lambda r: "weights.bin", _weights_link), IntegrityError, _EXTERNAL),
]

# --------------------------------------------------------------------------- cards smuggling docker options

_DIGEST = "sha256:" + "a" * 64


def card_runtime(**runtime: object) -> Attack:
    fields = {"type": "container", "image": f"deepinfer/x@{_DIGEST}", **runtime}
    return lambda root: parse_card(card_document(runtime=fields), "hostile.json")


def legacy_docker(repository: str) -> Attack:
    def attack(root: Path) -> object:
        document = {
            "name": "Evil", "version": "0.1", "task": "Segmentation", "organ": "Prostate", "modality": "MRI",
            "docker": {"dockerhub_repository": repository, "digest": _DIGEST},
            "model_name": "net", "data_path": "/data",
            "members": [{"name": "Input", "type": "volume", "iotype": "input", "voltype": "ScalarVolume"}],
        }  # fmt: skip
        return import_legacy(document, "hostile-2017.json")

    return attack


CARD_CASES = [
    hostile("card-image-option", card_runtime(image=f"deepinfer/x --privileged@{_DIGEST}"), CardError, "runtime.image"),
    hostile("card-image-is-option", card_runtime(image="--privileged"), CardError, "runtime.image"),
    hostile("card-image-unpinned", card_runtime(image="alpine:latest"), CardError, "runtime.image"),
    hostile("card-data-path-option", card_runtime(data_path="/data -v /:/host"), CardError, "runtime.data_path"),
    hostile("card-data-path-dotdot", card_runtime(data_path="/data/../etc"), CardError, "runtime.data_path"),
    hostile("card-model-name-shell", card_runtime(model_name="net; rm -rf /"), CardError, "runtime.model_name"),
    hostile("card-extra-docker-options", card_runtime(options=["--privileged"]), CardError, "runtime"),
    hostile("legacy-repository-options", legacy_docker("deepinfer/x --privileged"), CardError, "dockerhub_repository"),
    hostile(
        "card-http-artifact",
        lambda root: parse_card(
            card_document(
                artifacts=[
                    {
                        "name": "w",
                        "sha256": "a" * 64,
                        "size": 1,
                        "source": {"kind": "url", "url": "http://github.com/w"},
                    }
                ]
            )
        ),
        CardError,
        "artifacts",
    ),
]

# --------------------------------------------------------------------------- image headers


def read_image(write: Callable[[Path], Path]) -> Attack:
    def attack(root: Path) -> object:
        from deepinfer.imaging import read_volume

        return read_volume(write(root))

    return attack


_HUGE = (2048, 2048, 1100)  # float32: 18.5 GB of voxels asked for by a 377-byte file
IMAGE_CASES = [
    hostile(
        "nifti-377-bytes-18gb", read_image(nifti_file("a.nii", nifti_bytes(_HUGE, (1, 1, 1)))), InputError, "a.nii"
    ),
    hostile(
        "nifti-gz-18gb",
        read_image(nifti_file("a.nii.gz", nifti_bytes(_HUGE, (1, 1, 1)), compress=True)),
        InputError,
        r"a\.nii\.gz: .*(GiB|truncated)",
    ),
    *[
        hostile(
            f"nifti-{name}-spacing",
            read_image(nifti_file("a.nii", nifti_bytes((2, 2, 2), (value, 1, 1), b"\0" * 32))),
            InputError,
            "spacing",
        )
        for name, value in (("nan", float("nan")), ("infinite", float("inf")), ("zero", 0.0))
    ],
    hostile(
        "nifti-negative-spacing",
        read_image(nifti_file("a.nii", nifti_bytes((2, 2, 2), (-1, 1, 1), b"\0" * 32))),
        InputError,
        "spacing",
    ),
    hostile(
        "nifti-zero-dimension",
        read_image(nifti_file("a.nii", nifti_bytes((2, 0, 2), (1, 1, 1), b""))),
        InputError,
        r"a\.nii: (is empty|.*truncated)",
    ),
    hostile(
        "nifti-4d-series",
        read_image(nifti_file("a.nii", nifti_bytes((64, 64, 64, 5000), (1, 1, 1, 1)))),
        InputError,
        "3D volume is needed",
    ),
]

# --------------------------------------------------------------------------- detached voxel data (issue: an upload
# whose header names a data file made the reader read any file the server could open, or block on a FIFO)

_MHA = "ObjectType = Image\nNDims = 3\nDimSize = 4 4 2\nElementType = MET_UCHAR\nElementSpacing = 1 1 1\n"
_NRRD = "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 2\nspacings: 1 1 1\nencoding: raw\n"


def detached(
    name: str,
    reference: Callable[[Path], str],
    setup: Callable[[Path], None] = lambda root: None,
    *,
    self_contained: bool = False,
    padding: bytes = b"",
) -> Attack:
    """Read a MetaImage/NRRD header ``name`` whose data reference is ``reference(root)`` (after ``setup``)."""

    def attack(root: Path) -> object:
        from deepinfer.imaging import read_volume

        setup(root)
        head = _MHA + f"ElementDataFile = {reference(root)}\n" if name.endswith((".mha", ".mhd")) else ""
        head = head or _NRRD + f"{reference(root)}\n"
        header = root / name
        header.write_bytes(head.encode() + padding)
        return read_volume(header, self_contained=self_contained)

    return attack


def _victim(root: Path) -> str:
    return str(outside(root) / "victim.bin")


def _slices(root: Path) -> None:
    for index in range(1, 3):
        (root / f"s{index:03d}.raw").write_bytes(bytes(16))


def _link(root: Path) -> None:
    (root / "data.raw").symlink_to(outside(root) / "victim.bin")


def _fifo(root: Path) -> None:
    os.mkfifo(root / "data.raw")


def _folder(root: Path) -> None:
    (root / "data.raw").mkdir()


def _inside(root: Path) -> None:
    (root / "data.raw").write_bytes(bytes(32))


def _late_reference(root: Path) -> object:
    """A MiB of header before ``ElementDataFile``: MetaIO would still reach it, the check must not give up."""
    from deepinfer.imaging import read_volume

    header = root / "a.mha"
    header.write_text(f"Comment = {'x' * (1 << 20)}\n{_MHA}ElementDataFile = /etc/passwd\n")
    return read_volume(header)


_REFUSED = r"{}: refused, its header names detached voxel data .*: "
DETACHED_CASES = [
    hostile("mha-datafile-absolute", detached("a.mha", _victim), InputError, _REFUSED.format(r"a\.mha") + "an absol"),
    hostile("mha-datafile-etc-passwd", detached("a.mha", lambda r: "/etc/passwd"), InputError, "an absolute path"),
    hostile(
        "mha-datafile-missing-absolute",  # the same answer whether the file exists: no existence oracle
        detached("a.mha", lambda r: "/nonexistent/secret.bin"),
        InputError,
        "an absolute path",
    ),
    hostile(
        "mha-datafile-zero-padded",
        detached("a.mha", lambda r: "/etc/passwd", padding=bytes(1 << 16)),
        InputError,
        "an absolute path",
    ),
    hostile(
        "mha-datafile-dotdot",
        detached("a.mha", lambda r: "../outside/victim.bin"),
        InputError,
        "leaves the header's folder",
    ),
    hostile("mhd-datafile-absolute", detached("a.mhd", _victim), InputError, "an absolute path"),
    hostile("mhd-datafile-symlink", detached("a.mhd", lambda r: "data.raw", _link), InputError, "a symbolic link"),
    hostile("mha-datafile-fifo", detached("a.mha", lambda r: "data.raw", _fifo), InputError, r"\(a FIFO\)"),
    hostile("mha-datafile-folder", detached("a.mha", lambda r: "data.raw", _folder), InputError, r"\(a folder\)"),
    hostile("mha-datafile-device", detached("a.mha", lambda r: "/dev/zero"), InputError, "an absolute path"),
    hostile(
        "mha-list-one-bad-member",
        detached("a.mhd", lambda r: "LIST\ns001.raw\n../outside/victim.bin", _slices),
        InputError,
        "leaves the header's folder",
    ),
    hostile(
        "mha-pattern-escapes",
        detached("a.mhd", lambda r: "../outside/s%03d.raw 1 2 1"),
        InputError,
        "leaves the header's folder",
    ),
    hostile("mha-pattern-absolute", detached("a.mhd", lambda r: "/etc/s%03d 1 2 1"), InputError, "an absolute path"),
    hostile("mha-pattern-two-fields", detached("a.mhd", lambda r: "s%03d%s.raw 1 2 1"), InputError, "is not supported"),
    hostile(
        "mha-reference-after-a-mib-of-header",
        _late_reference,
        InputError,
        "no end of its header",
    ),
    hostile("nrrd-datafile-absolute", detached("a.nrrd", lambda r: f"data file: {_victim(r)}"), InputError, "absolute"),
    hostile("nrrd-datafile-etc-passwd", detached("a.nrrd", lambda r: "datafile: /etc/passwd"), InputError, "absolute"),
    hostile(
        "nrrd-data-file-dotdot",
        detached("a.nhdr", lambda r: "data file: ../outside/victim.bin"),
        InputError,
        "leaves the header's folder",
    ),
    hostile(
        "nhdr-data-file-symlink", detached("a.nhdr", lambda r: "data file: data.raw", _link), InputError, "symbolic"
    ),
    hostile("nhdr-data-file-fifo", detached("a.nhdr", lambda r: "data file: data.raw", _fifo), InputError, "FIFO"),
    hostile(
        "nhdr-data-file-list-one-bad",
        detached("a.nhdr", lambda r: "data file: LIST 2\ns001.raw\n/etc/passwd", _slices),
        InputError,
        "an absolute path",
    ),
    hostile(
        "nhdr-data-file-pattern-escapes",
        detached("a.nhdr", lambda r: "data file: ../../etc/p%d 1 2 1"),
        InputError,
        "leaves the header's folder",
    ),
    hostile(
        "nhdr-data-file-space-second-word",
        detached("a.nhdr", lambda r: "data file: ../outside/victim.bin extra"),
        InputError,
        "leaves the header's folder",
    ),
    hostile(
        "upload-mha-detached-inside",
        detached("a.mha", lambda r: "data.raw", _inside, self_contained=True),
        InputError,
        "must hold its own voxels",
    ),
    hostile(
        "upload-nrrd-detached-inside",
        detached("a.nrrd", lambda r: "data file: data.raw", _inside, self_contained=True),
        InputError,
        "must hold its own voxels",
    ),
]
