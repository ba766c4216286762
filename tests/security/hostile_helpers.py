"""Builders of hostile inputs for the corpus: URLs, registries, archives, ONNX models, NIfTI headers, cards.

Every attack is a function of ``root``, the one folder it may write into; ``root.parent / "outside"`` holds
the files an attack tries to reach (``victim.json``, a valid card; ``victim.bin``).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from card_documents import minimal_card
from deepinfer._config import Settings
from deepinfer._exceptions import FetchError
from deepinfer.card import Artifact
from deepinfer.registry import HttpRegistry, RegistrySource
from deepinfer.store import ArtifactStore, HttpResponse

Attack = Callable[[Path], object]
DATA = b"model weights " * 64
HOSTS = ("github.com",)


@dataclass(frozen=True)
class Hostile:
    id: str
    attack: Attack
    error: type[Exception]
    match: str
    gap: str | None = None
    """A known gap in code outside this suite's reach: the case is a strict xfail until it is fixed."""


def hostile(case_id: str, attack: Attack, error: type[Exception], match: str, gap: str | None = None) -> Hostile:
    return Hostile(case_id, attack, error, match, gap)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def outside(root: Path) -> Path:
    return root.parent / "outside"


def card_document(card_id: str = "evil", **fields: Any) -> dict[str, Any]:
    return minimal_card(card_id, **fields)


CARD_BYTES = json.dumps(card_document()).encode()


class RoutedTransport:
    """URL → bytes, or → str (a redirect there); ``fallback`` answers every other URL (None: HTTP 404)."""

    def __init__(self, routes: Mapping[str, bytes | str], fallback: bytes | None = None) -> None:
        self.routes = dict(routes)
        self.fallback = fallback
        self.opened: list[str] = []

    @contextlib.contextmanager
    def open(self, url: str, headers: Mapping[str, str] | None = None) -> Iterator[HttpResponse]:
        self.opened.append(url)
        body = self.routes.get(url, self.fallback)
        if body is None:
            raise FetchError(f"{url}: HTTP 404 Not Found")
        if isinstance(body, str):
            yield HttpResponse(redirect=body)
            return
        yield HttpResponse(chunks=iter([body]), total=len(body))


def url_artifact(url: str, data: bytes = DATA) -> Artifact:
    """An artifact with ``url`` as its source, set past the card's own https check on purpose."""
    artifact = Artifact.model_validate(
        {"name": "weights", "sha256": sha256(data), "size": len(data), "source": {"kind": "url", "url": "https://x"}}
    )
    return artifact.model_copy(update={"source": artifact.source.model_copy(update={"url": url})})


def fetch_url(url: str, routes: Mapping[str, bytes | str] | None = None) -> Attack:
    """Fetch an artifact from ``url``; the transport would serve it (and any redirect target) if asked."""

    def attack(root: Path) -> object:
        transport = RoutedTransport(routes if routes is not None else {url: DATA}, fallback=DATA)
        store = ArtifactStore(root / "home", Settings(allowed_hosts=HOSTS), transport=transport)
        return store.fetch(url_artifact(url))

    return attack


REGISTRY_URL = "https://models.example.org/reg/"
INDEX_URL = REGISTRY_URL + "index.json"


def index_bytes(path: str, card: bytes = CARD_BYTES, card_id: str = "evil") -> bytes:
    entry = {"id": card_id, "version": "1.0.0", "path": path, "sha256": sha256(card)}
    return json.dumps({"schema_version": "2.0", "cards": [entry]}).encode()


def http_registry(transport: RoutedTransport, root: Path, keys: tuple[str, ...] = ()) -> HttpRegistry:
    source = RegistrySource("lab", REGISTRY_URL, keys)
    return HttpRegistry(source, root / "home", Settings(allowed_hosts=()), transport)


def http_index_path(path: str) -> Attack:
    """A remote index whose card path is ``path``; the server answers any other URL with a valid card."""

    def attack(root: Path) -> object:
        transport = RoutedTransport({INDEX_URL: index_bytes(path)}, fallback=CARD_BYTES)
        return http_registry(transport, root).list()

    return attack


def http_routes(routes: Mapping[str, bytes | str]) -> Attack:
    def attack(root: Path) -> object:
        return http_registry(RoutedTransport(routes), root).list()

    return attack


# ------------------------------------------------------------------------------------------------ archives


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x", link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.linkname = link
    return info


def write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def write_zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(info, data)
    return path


def zip_symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = 0o120777 << 16  # S_IFLNK | 0777
    return info, target.encode()


# ------------------------------------------------------------------------------------------------ images


def nifti_bytes(shape: tuple[int, ...], zooms: tuple[float, ...], data: bytes = b"\0" * 25) -> bytes:
    """A NIfTI-1 single file (header, empty extension, ``data``): 377 bytes by default, whatever ``shape``."""
    import nibabel
    import numpy as np

    header = nibabel.Nifti1Header()
    header.set_data_dtype(np.float32)
    header["dim"] = [len(shape), *shape, *([1] * (7 - len(shape)))]
    header["pixdim"] = [1.0, *zooms, *([1.0] * (7 - len(zooms)))]
    header["vox_offset"] = 352
    header["sform_code"] = 0
    header["qform_code"] = 1
    header["magic"] = b"n+1"
    return bytes(header.binaryblock) + b"\0" * 4 + data


def nifti_file(name: str, content: bytes, compress: bool = False) -> Callable[[Path], Path]:
    def write(root: Path) -> Path:
        path = root / name
        path.write_bytes(gzip.compress(content) if compress else content)
        return path

    return write


# ------------------------------------------------------------------------------------------------ onnx


def onnx_with_external_data(path: Path, location: str) -> Path:
    """An Identity model whose one initializer lives in external data at ``location``."""
    import onnx
    from onnx import TensorProto, helper

    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "4")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    node = helper.make_node("Identity", ["w"], ["y"])
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([node], "g", [], [output], initializer=[weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    return path
