"""`deepinfer card validate` checks the whole card: schema and pipeline problems in one report, exit 1 if any."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import deepinfer
from deepinfer.cli import run_cli

CARDS = sorted((Path(deepinfer.__file__).parent / "_registry" / "cards").glob("*.json"))


def validate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = run_cli(["card", "validate", *argv])
    return code, capsys.readouterr().out


def broken_taps(tmp_path: Path) -> Path:
    card: dict[str, Any] = json.loads(next(p for p in CARDS if p.name == "prostate-taps.json").read_text())
    card["version"] = "one"
    card["pipeline"][1]["step"] = "resampel"
    card["pipeline"][4]["params"]["network"] = "weights"
    card["pipeline"][5]["params"]["sigma"] = {"param": "blur"}
    card["pipeline"][3]["params"]["margin"] = -1
    path = tmp_path / "card.json"
    path.write_text(json.dumps(card))
    return path


@pytest.mark.parametrize("path", CARDS, ids=lambda p: p.stem)
def test_every_embedded_card_is_valid(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code, out = validate(capsys, str(path), "--json")
    assert (code, json.loads(out)) == (0, [])


def test_json_lists_schema_and_pipeline_problems_with_paths(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = validate(capsys, str(broken_taps(tmp_path)), "--json")
    assert code == 1
    problems = json.loads(out)
    assert [p["path"] for p in problems] == [
        "$.version",
        "$.pipeline[1].step",
        "$.pipeline[3].params.margin",
        "$.pipeline[4].params.network",
        "$.pipeline[5].params.sigma",
    ]
    assert problems[1]["message"] == "unknown pipeline step 'resampel'; did you mean 'resample'?"
    assert problems[3]["message"] == "no artifact named 'weights'"
    assert "unknown card parameter 'blur'" in problems[4]["message"]


def test_text_report_names_every_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = broken_taps(tmp_path)
    code, out = validate(capsys, str(path))
    assert code == 1
    assert "$.pipeline[1].step: unknown pipeline step 'resampel'; did you mean 'resample'?" in out
    assert f"{path}: 5 problem(s)" in " ".join(out.split())  # the console may wrap the last line
    assert "valid model card" not in out
