"""The command-line contract: command names, flags, JSON output and exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deepinfer.cli import run_cli

DEEPINFER = [sys.executable, "-m", "deepinfer"]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_cli(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_models_list_json_has_the_contract_columns(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "models", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    taps = next(row for row in rows if row["id"] == "prostate-taps")
    assert {"id", "name", "version", "task", "modality", "license", "size"} <= set(taps)
    assert taps["license"] == {"code": "MIT", "weights": "MIT"}
    assert taps["size"] == 79721153


def test_models_list_table_mentions_research_use(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "models", "list")
    assert code == 0
    assert "prostate-taps" in out
    assert "Not for clinical diagnosis" in out


def test_models_search_finds_by_anatomy_and_misses_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "models", "search", "prostate", "--json")
    assert code == 0
    assert [row["id"] for row in json.loads(out)] == ["prostate-taps"]
    code, out, _ = cli(capsys, "models", "search", "no-such-organ")
    assert code == 0
    assert "No model matches" in out


def test_models_show_full_card(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "models", "show", "prostate-taps", "--json")
    assert code == 0
    card = json.loads(out)
    assert card["id"] == "prostate-taps"
    assert any(p["name"] == "threshold" for p in card["parameters"])
    code, out, _ = cli(capsys, "models", "show", "prostate-taps")
    assert code == 0
    for text in ("License", "MIT", "threshold", "ProstateMask", "Not for clinical diagnosis"):
        assert text in out


def test_unknown_model_is_a_usage_error_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "models", "show", "prostate-tap")
    assert code == 2
    assert "prostate-taps" in err


def test_run_help_shows_the_models_own_parameters() -> None:
    result = subprocess.run(
        [*DEEPINFER, "run", "prostate-taps", "--help"], capture_output=True, encoding="utf-8", check=False
    )
    assert result.returncode == 0, result.stderr
    assert "--threshold" in result.stdout
    assert "0.55" in result.stdout
    assert "--input" in result.stdout and "--output" in result.stdout


def test_run_rejects_a_parameter_out_of_range(
    capsys: pytest.CaptureFixture[str], colin27_crop: Path, tmp_path: Path
) -> None:
    code, _, err = cli(
        capsys,
        "run",
        "prostate-taps",
        "-i",
        str(colin27_crop),
        "-o",
        str(tmp_path / "seg.nii.gz"),
        "--threshold",
        "1.5",
    )
    assert code == 2
    assert "threshold" in err
    assert not list(tmp_path.iterdir())


def test_card_validate_lists_every_problem_with_its_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    card = json.loads(Path(_embedded("prostate-taps")).read_text())
    card["version"] = "one"
    card["outputs"][1]["labels"][0]["color"] = "red"
    card["runtime"] = {"type": "container", "image": "deepinfer/prostate:latest"}
    path = tmp_path / "card.json"
    path.write_text(json.dumps(card))
    code, out, _ = cli(capsys, "card", "validate", str(path), "--json")
    assert code == 1
    paths = {problem["path"] for problem in json.loads(out)}
    assert {"$.version", "$.outputs[1].labels[0].color", "$.runtime.image"} <= paths


def test_card_validate_accepts_the_embedded_card(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "card", "validate", _embedded("prostate-taps"))
    assert code == 0
    assert "valid" in out


def test_card_validate_names_a_broken_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{ not json")
    code, _, err = cli(capsys, "card", "validate", str(path))
    assert code == 3
    assert "broken.json" in err


def test_import_legacy_prints_or_writes_a_valid_card(
    capsys: pytest.CaptureFixture[str], legacy_registry: Path, tmp_path: Path
) -> None:
    source = legacy_registry / "ProstateSegmenter.json"
    code, out, _ = cli(capsys, "card", "import-legacy", str(source))
    assert code == 0
    printed = json.loads(out)
    assert printed["runtime"]["image"].startswith("deepinfer/prostate@sha256:")
    target = tmp_path / "card.json"
    code, _, _ = cli(capsys, "card", "import-legacy", str(source), "-o", str(target))
    assert code == 0
    assert json.loads(target.read_text()) == printed
    code, _, _ = cli(capsys, "card", "validate", str(target))
    assert code == 0


def _embedded(model: str) -> str:
    from deepinfer.registry import default_registry

    registry = default_registry()
    folder = registry.find(model).folder
    assert folder is not None
    matches = [p for p in folder.glob("*.json") if json.loads(p.read_text()).get("id") == model]
    assert matches, f"no card file for {model}"
    return str(matches[0])


def test_the_console_script_is_installed() -> None:
    assert shutil.which("deepinfer", path=str(Path(sys.executable).parent)), "pip install -e . creates it"
