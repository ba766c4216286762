"""The deepinfer command lines the Slicer extension builds (argv lists; local and server modes)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from DeepInferLib import commands
from DeepInferLib.cards import form_from_card
from DeepInferLib.commands import CommandError, Connection, make_connection
from slicer_helpers import DEEPINFER, connection

TAPS = json.loads(
    (Path(__file__).resolve().parents[2] / "registry" / "cards" / "prostate-taps.json").read_text(encoding="utf-8")
)
FORM = form_from_card(TAPS)


def test_class_scores_are_written_as_json_and_a_local_card_file_is_run_as_such(tmp_path: Path) -> None:
    from dataclasses import replace

    scores = {"type": "class_scores", "name": "scores", "classes": ["a", "b"]}
    form = replace(form_from_card({**TAPS, "outputs": [*TAPS["outputs"], scores]}), card_file="card.json")
    outputs = commands.output_files(form, tmp_path)
    assert outputs["scores"] == tmp_path / "scores.json" and outputs["ProstateMask"].suffix == ".nrrd"
    argv = commands.run_model(connection(), form, {"T2": tmp_path / "t2.nrrd"}, outputs, {})
    assert argv[len(DEEPINFER) : len(DEEPINFER) + 2] == ["run", "card.json"]
    assert f"scores={tmp_path / 'scores.json'}" in argv


def test_run_command_names_every_file_and_passes_each_value_as_one_item(tmp_path: Path) -> None:
    outputs = commands.output_files(FORM, tmp_path)
    assert outputs == {
        "ProstateProbability": tmp_path / "ProstateProbability.nrrd",
        "ProstateMask": tmp_path / "ProstateMask.nrrd",
    }
    argv = commands.run_model(
        connection(), FORM, {"T2": tmp_path / "in; rm -rf ~.nrrd"}, outputs, {"threshold": 0.3}, threads=2
    )
    assert argv[:5] == [*DEEPINFER, "run", "prostate-taps@1.0.0"]
    assert argv[argv.index("-i") + 1] == f"T2={tmp_path / 'in; rm -rf ~.nrrd'}"
    assert f"ProstateMask={tmp_path / 'ProstateMask.nrrd'}" in argv
    assert argv[-2:] == ["--progress", "json"]
    assert {"--threshold=0.3", "--sigma=2.5", "--overlap=0.5", "--threads=2"} <= set(argv)


def test_parameter_values_are_checked_against_the_card() -> None:
    with pytest.raises(CommandError, match="outside"):
        commands.parameter_arguments(FORM, {"threshold": 1.5})
    with pytest.raises(CommandError, match="no parameter"):
        commands.parameter_arguments(FORM, {"thresh": 0.5})
    with pytest.raises(CommandError, match="select the input"):
        commands.run_model(connection(), FORM, {}, {}, {})
    enum_bool = form_from_card(
        {
            **TAPS,
            "parameters": [
                {"type": "enum", "name": "mode", "choices": ["a", "b"]},
                {"type": "bool", "name": "FillHoles", "default": True},
                {"type": "string", "name": "note"},
            ],
        }
    )
    assert commands.parameter_arguments(enum_bool, {"FillHoles": False}) == ["--mode=a", "--no-fill-holes"]
    assert commands.parameter_arguments(enum_bool, {"mode": "b", "note": "-x"}) == [
        "--mode=b",
        "--fill-holes",
        "--note=-x",
    ]
    with pytest.raises(CommandError, match="not one of"):
        commands.parameter_arguments(enum_bool, {"mode": "c"})


def test_server_mode_adds_the_url_and_keeps_the_token_out_of_argv() -> None:
    remote = Connection(DEEPINFER, env={"PATH": "/bin"}, server_url="https://gpu.example:8443", token="s3cret")
    argv = commands.list_models(remote)
    assert argv == [*DEEPINFER, "--server", "https://gpu.example:8443", "models", "list", "--json"]
    assert "s3cret" not in " ".join(argv) and "s3cret" not in repr(remote)
    env = remote.environment()
    assert env["DEEPINFER_TOKEN"] == "s3cret" and env["PATH"] == "/bin" and env["COLUMNS"] == "400"
    assert remote.mode == "server" and connection().mode == "local"
    assert commands.pull_model(connection(), "x") == [*DEEPINFER, "pull", "x", "--progress", "json"]


def test_connection_finds_deepinfer_and_gives_external_programs_the_startup_environment(tmp_path: Path) -> None:
    local = make_connection(python="/opt/Slicer/bin/PythonSlicer", startup_env={"PATH": "/usr/bin"})
    assert local.program == ("/opt/Slicer/bin/PythonSlicer", "-m", "deepinfer") and local.env is None
    executable = tmp_path / "deepinfer"
    executable.write_text("#!/bin/sh\n")
    external = make_connection(str(executable), "https://host:1", "t", startup_env={"PATH": "/usr/bin"})
    assert external.program == (str(executable),) and external.env == {"PATH": "/usr/bin"}
    assert external.server_url == "https://host:1" and external.token == "t"
    with pytest.raises(CommandError, match="no deepinfer executable"):
        make_connection(str(tmp_path / "missing"))
    with pytest.raises(CommandError, match="http"):
        make_connection(server_url="ftp://host")
    assert make_connection(server_url="  ").server_url is None
    assert make_connection().program[0] == sys.executable


def test_exit_codes_have_their_meaning() -> None:
    assert commands.exit_meaning(3) == "bad input" and commands.exit_meaning(2) == "usage error"
    assert commands.exit_meaning(4).startswith("integrity") and commands.exit_meaning(1) == "error"
