"""Hostile class-score files a model's container may leave in the shared folder (the 2017 protocol's outputs are
untrusted): each is read by the container runner's reader and must be refused with a clear ContainerError."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hostile_helpers import Attack, Hostile, hostile, outside

from deepinfer._exceptions import ContainerError
from deepinfer.card import ClassScoresMember
from deepinfer.container import MAX_SCORES_BYTES, read_container_scores
from deepinfer.imaging import Geometry

CLASSES = ["transverse process", "facet joint", "lamina", "spinous process"]
_MEMBER = ClassScoresMember(name="TargetPlane", classes=CLASSES)
_GEOMETRY = Geometry((0.0, 0.0, 0.0), (1.0, 1.0, 2.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0), (9, 8, 7))


def _document(**changes: Any) -> dict[str, Any]:
    return {"classes": CLASSES, "planes": [{"index": 0, "scores": [0.1, 0.2, 0.3, 0.4]}], **changes}


def container_wrote(write: Callable[[Path], object]) -> Attack:
    """The container left ``out/`` as ``write`` makes it; the runner reads the class scores from it."""

    def attack(root: Path) -> object:
        folder = root / "out"
        folder.mkdir()
        write(folder)
        return read_container_scores("hostile-model@1.0.0", _MEMBER, folder, _GEOMETRY)

    return attack


def scores_bytes(data: bytes, name: str = "TargetPlane.json") -> Attack:
    return container_wrote(lambda folder: (folder / name).write_bytes(data))


def scores_json(document: Any) -> Attack:
    return scores_bytes(json.dumps(document).encode())


def _padded(folder: Path) -> None:
    text = json.dumps(_document()).encode()
    (folder / "TargetPlane.json").write_bytes(text + b" " * (MAX_SCORES_BYTES + 1 - len(text)))


def _link_out(folder: Path) -> None:
    (folder / "TargetPlane.json").symlink_to(outside(folder.parent) / "victim.json")


def _fifo(folder: Path) -> None:
    os.mkfifo(folder / "TargetPlane.json")


def _plane(**entry: Any) -> dict[str, Any]:
    return _document(planes=[{"index": 0, "scores": [0.1, 0.2, 0.3, 0.4], **entry}])


REFUSED = "TargetPlane.json are refused"
CONTAINER_SCORE_CASES: list[Hostile] = [
    hostile("scores-oversized", container_wrote(_padded), ContainerError, f"{REFUSED}: .*more than the"),
    hostile("scores-symlink-out", container_wrote(_link_out), ContainerError, "not a regular file"),
    hostile("scores-fifo", container_wrote(_fifo), ContainerError, "not a regular file"),
    hostile("scores-not-json", scores_bytes(b"\x00\x01 rm -rf /"), ContainerError, f"{REFUSED}: not JSON"),
    hostile("scores-not-utf8", scores_bytes(b'{"classes": "\xff\xfe"}'), ContainerError, "not UTF-8"),
    hostile("scores-deep-nesting", scores_bytes(b"[" * 200_000), ContainerError, "not JSON"),
    hostile("scores-not-an-object", scores_json([[0.1, 0.2, 0.3, 0.4]]), ContainerError, "not a JSON object"),
    hostile(
        "scores-nan-literal",
        scores_bytes(json.dumps(_document()).replace("0.4", "NaN").encode()),
        ContainerError,
        "NaN is not a finite number",
    ),
    hostile(
        "scores-overflow-to-infinity",
        scores_bytes(json.dumps(_document()).replace("0.4", "1e999").encode()),
        ContainerError,
        "not a finite number",
    ),
    hostile(
        "scores-beyond-float32",
        scores_bytes(json.dumps(_document()).replace("0.4", "1e300").encode()),
        ContainerError,
        "too large",
    ),
    hostile(
        "scores-wrong-classes",
        scores_json(_document(classes=[*CLASSES[:3], "pedicle"])),
        ContainerError,
        "not the card's",
    ),
    hostile("scores-fewer-classes", scores_json(_document(classes=CLASSES[:2])), ContainerError, "not the card's"),
    hostile("scores-class-count", scores_json(_plane(scores=[0.5, 0.5])), ContainerError, "must hold 4 numbers"),
    hostile(
        "scores-other-class-keys",
        scores_json(_plane(scores=dict.fromkeys("abcd", 0.25))),
        ContainerError,
        "other classes",
    ),
    hostile("scores-booleans", scores_json(_plane(scores=[True, False, False, False])), ContainerError, "not a finite"),
    hostile("scores-strings", scores_json(_plane(scores=["1", "0", "0", "0"])), ContainerError, "not a finite"),
    hostile("scores-index-outside", scores_json(_plane(index=10**9)), ContainerError, "outside the input's 7 planes"),
    hostile("scores-negative-index", scores_json(_plane(index=-1)), ContainerError, "outside the input's"),
    hostile("scores-float-index", scores_json(_plane(index=0.5)), ContainerError, "whole number"),
    hostile(
        "scores-duplicate-index",
        scores_json(_document(planes=[{"index": 2, "scores": [1, 0, 0, 0]}] * 2)),
        ContainerError,
        "given twice",
    ),
    hostile("scores-no-planes", scores_json(_document(planes=[])), ContainerError, "non-empty list"),
    hostile("scores-unknown-rule", scores_json(_document(rule="__import__('os')")), ContainerError, "rule must be"),
    hostile("scores-unknown-plane", scores_json(_document(plane="oblique")), ContainerError, "plane must be"),
    hostile(
        "scores-csv-formula",
        scores_bytes(
            b"index,transverse process,facet joint,lamina,spinous process\n0,=cmd|' /C calc'!A0,0,0,0\n",
            "TargetPlane.csv",
        ),
        ContainerError,
        "not a number",
    ),
    hostile("scores-missing", container_wrote(lambda folder: None), ContainerError, "wrote no class scores"),
]
