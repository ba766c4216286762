"""Property-based fuzzing (hypothesis), bounded in examples and time: every parser of outside data either
accepts its input or refuses it with deepinfer's own error, never another exception.

Covered: the card parser, the 2017 importer, the registry index, the URL allowlist, the relative-path checks
and the image header checks (NIfTI headers with random fields, read under a lowered address-space limit so
that a header slipping through to a huge allocation fails here instead of taking the machine's memory).
"""

from __future__ import annotations

import contextlib
import json
import math
import resource
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from hostile_helpers import card_document, nifti_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepinfer import CardError, FetchError, InputError
from deepinfer.card import ModelCard, dump_card, import_legacy, parse_card
from deepinfer.registry._index import card_from_bytes, parse_index
from deepinfer.store import UrlPolicy, check_relative, check_url_path, resolve_inside
from realparts import need

FUZZ = settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)
LEGACY: dict[str, Any] = {
    "name": "Prostate Segmenter", "version": "0.1", "task": "Segmentation", "organ": "Prostate",
    "modality": "MRI", "briefdescription": "Segments the gland.", "model_name": "net", "data_path": "/data",
    "docker": {"dockerhub_repository": "deepinfer/prostate", "digest": "sha256:" + "a" * 64},
    "members": [
        {"name": "InputVolume", "type": "volume", "iotype": "input", "voltype": "ScalarVolume"},
        {"name": "OutputLabel", "type": "volume", "iotype": "output", "voltype": "LabelMap"},
        {"name": "Threshold", "type": "float", "iotype": "parameter", "default": 0.5},
    ],
}  # fmt: skip


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of a JSON document (the places a mutation can replace)."""
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _paths(value, (*prefix, index))


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


def _mutations(document: Any) -> st.SearchStrategy[Any]:
    paths = list(_paths(document))
    return st.builds(lambda path, value: _replaced(document, path, value), st.sampled_from(paths), JSON)


@FUZZ
@given(st.one_of(JSON, _mutations(card_document())))
def test_the_card_parser_accepts_or_refuses(document: Any) -> None:
    try:
        card = parse_card(document, "fuzz.json")
    except CardError as error:
        assert error.problems and all(problem.path.startswith("$") for problem in error.problems)
        return
    assert parse_card(json.loads(dump_card(card))) == card


@FUZZ
@given(st.binary(max_size=300) | st.builds(lambda d: json.dumps(d).encode(), _mutations(LEGACY)))
def test_card_bytes_from_a_registry_are_accepted_or_refused(data: bytes) -> None:
    with contextlib.suppress(CardError):
        assert isinstance(card_from_bytes(data, "fuzz.json"), ModelCard)


@FUZZ
@given(st.one_of(JSON, _mutations(LEGACY)))
def test_the_2017_importer_accepts_or_refuses(document: Any) -> None:
    try:
        card, notes = import_legacy(document, "fuzz-2017.json")
    except CardError as error:
        assert error.source == "fuzz-2017.json" and error.problems
        return
    assert isinstance(card, ModelCard) and all(isinstance(note, str) for note in notes)


_INDEX = {"schema_version": "2.0", "cards": [{"id": "a", "version": "1.0.0", "path": "a.json", "sha256": "a" * 64}]}


@FUZZ
@given(st.binary(max_size=200) | st.builds(lambda d: json.dumps(d).encode(), _mutations(_INDEX)))
def test_the_index_parser_accepts_or_refuses(data: bytes) -> None:
    try:
        entries = parse_index(data, "index.json")
    except CardError:
        return
    assert all(isinstance(entry.path, str) and len(entry.sha256) == 64 for entry in entries)


_URL_PARTS = st.sampled_from(["https://", "http://", "//", "file://", "https:", "", "@", "#", "\\", ":", "/", "%2e"])
_HOSTS = st.sampled_from(["github.com", "evil.example", "github.com.evil.example", "127.0.0.1", "g\u0456thub.com"])


@FUZZ
@given(st.lists(_URL_PARTS | _HOSTS | st.text(max_size=6), max_size=8).map("".join))
def test_the_url_allowlist_passes_only_https_to_allowed_hosts(url: str) -> None:
    try:
        UrlPolicy(("github.com",)).check(url)
    except FetchError:
        return
    assert url.startswith("https://github.com") and url.isascii()
    assert not any(sign in url for sign in ("@", "#", "\\", " "))


@FUZZ
@given(st.lists(st.sampled_from(["..", ".", "", "a", "%2e", "\\", "/", "C:", "~", "x.json"]), max_size=6).map("/".join))
def test_relative_url_paths_never_leave_their_base(path: str) -> None:
    base = "https://host.example/registry/"
    try:
        checked = check_url_path(path)
    except ValueError:
        return
    assert urljoin(base, checked).startswith(base)


@FUZZ
@given(st.lists(st.sampled_from(["..", ".", "", "a", "b", "\\", "/", "C:", "\x00", "link"]), max_size=6).map("/".join))
def test_relative_file_paths_stay_inside_their_root(name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "root"
        (root / "a").mkdir(parents=True)
        (root / "link").symlink_to(Path(folder))
        try:
            check_relative(name)
            resolved = resolve_inside(root, name)
        except ValueError:
            return
        assert resolved.is_relative_to(root.resolve())


# --------------------------------------------------------------------------- image headers

_DATATYPES = st.sampled_from([2, 4, 8, 16, 64, 256, 512, 768, 32, 128, 1792, 0, -1, 9999])
_SPACING = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.sampled_from([0.0, -1.0, 1e-30, 1e30])


@contextlib.contextmanager
def _address_space_limit(extra: int) -> Iterator[None]:
    """Lower the soft address-space limit to the current size + ``extra`` bytes, restoring it afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        current = int(statm.read().split()[0]) * resource.getpagesize()
    limit = current + extra if hard == resource.RLIM_INFINITY else min(hard, current + extra)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@settings(max_examples=150, deadline=None, database=None)
@given(
    shape=st.lists(st.integers(-2, (1 << 15) - 1), min_size=1, max_size=7),
    zooms=st.lists(_SPACING, min_size=3, max_size=3),
    datatype=_DATATYPES,
    bitpix=st.sampled_from([0, 1, 8, 16, 32, 64, 128, -8]),
    offset=st.sampled_from([352.0, 0.0, 348.0, -1.0, 1e12, float("nan")]),
    data=st.binary(max_size=256),
)
def test_image_headers_are_checked_before_allocation(
    shape: list[int], zooms: list[float], datatype: int, bitpix: int, offset: float, data: bytes
) -> None:
    need("nibabel")
    from deepinfer.imaging import read_volume

    content = bytearray(nifti_bytes(tuple(shape), tuple(zooms), data))
    content[70:72] = int(datatype).to_bytes(2, "little", signed=True)
    content[72:74] = int(bitpix).to_bytes(2, "little", signed=True)
    content[108:112] = __import__("struct").pack("<f", offset)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.nii"
        path.write_bytes(bytes(content))
        try:
            with _address_space_limit(2 << 30):
                volume = read_volume(path)
        except InputError:
            return
    assert volume.array.shape == tuple(volume.geometry.size)
    assert all(math.isfinite(s) and s > 0 for s in volume.geometry.spacing)
