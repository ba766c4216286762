"""The argv of one container run: engine options from the card's registry-controlled fields only, then the image,
then the command, where each user value is one argv item.

Per job, a work folder holds ``in/`` (the inputs, mounted read-only) and ``out/`` (where the container writes).

- protocol ``deepinfer``: ``in/`` is mounted at ``<data_path>/in`` and ``out/`` at ``<data_path>/out``; the
  command is the card's ``args`` template with ``{inputs.NAME}`` → ``<data_path>/in/NAME.nrrd``,
  ``{outputs.NAME}`` → ``<data_path>/out/NAME.nrrd`` (``NAME.json`` for class scores), ``{params.NAME}`` → the
  value, ``{data_path}``.
- protocol ``deepinfer-2017`` (the original DeepInfer Slicer module's conventions): ``out/`` is mounted at
  ``<data_path>`` and each input file, read-only, at ``<data_path>/NAME.nrrd``; the command is
  ``--ModelName M --NAME <data_path>/NAME.nrrd ... --Param value``, a boolean parameter as a bare ``--Param``
  flag and only when true (the 2017 client passed it always).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepinfer._exceptions import UsageError
from deepinfer.card import PLACEHOLDER, BoolParameter, ClassScoresMember, ContainerRuntime, ModelCard, PointListMember

VOLUME_SUFFIX = ".nrrd"
POINTS_SUFFIX = ".fcsv"
SCORES_SUFFIX = ".json"
_MOUNT_UNSAFE = re.compile(r"[,=\x00-\x1f]")


@dataclass(frozen=True)
class JobFolder:
    """The host side of one run: ``root/in`` and ``root/out``."""

    root: Path

    @property
    def inputs(self) -> Path:
        return self.root / "in"

    @property
    def outputs(self) -> Path:
        return self.root / "out"

    def input_file(self, name: str) -> Path:
        return self.inputs / f"{name}{VOLUME_SUFFIX}"

    def output_file(self, name: str) -> Path:
        return self.outputs / f"{name}{VOLUME_SUFFIX}"


def argv_value(value: Any) -> str:
    """A parameter value as one argv item: booleans as true/false, numbers as Python writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _file_name(card: ModelCard, name: str) -> str:
    members = [m for m in [*card.inputs, *card.outputs] if m.name == name]
    if any(isinstance(m, ClassScoresMember) for m in members):
        return f"{name}{SCORES_SUFFIX}"  # the container writes class scores as JSON (see _scores.py)
    points = any(isinstance(m, PointListMember) for m in members)
    return f"{name}{POINTS_SUFFIX if points else VOLUME_SUFFIX}"


def _folder(runtime: ContainerRuntime) -> str:
    return "/" + runtime.data_path.strip("/")


def container_paths(card: ModelCard, runtime: ContainerRuntime) -> tuple[dict[str, str], dict[str, str]]:
    """Input and output member → path inside the container."""
    folder = _folder(runtime)
    inside, outside = (f"{folder}/in", f"{folder}/out") if runtime.protocol == "deepinfer" else (folder, folder)
    inputs = {m.name: f"{inside}/{_file_name(card, m.name)}" for m in card.inputs}
    outputs = {m.name: f"{outside}/{_file_name(card, m.name)}" for m in card.outputs}
    return inputs, outputs


def mount_options(runtime: ContainerRuntime, job: JobFolder, input_names: Sequence[str]) -> list[str]:
    """``--mount`` options: ``in/`` read-only and ``out/`` writable, placed as the protocol says."""
    folder = _folder(runtime)
    if runtime.protocol == "deepinfer":
        pairs = [(job.inputs, f"{folder}/in", True), (job.outputs, f"{folder}/out", False)]
    else:
        pairs = [(job.outputs, folder, False)]
        pairs += [(job.input_file(name), f"{folder}/{name}{VOLUME_SUFFIX}", True) for name in input_names]
    options: list[str] = []
    for source, target, read_only in pairs:
        if _MOUNT_UNSAFE.search(str(source)):
            raise UsageError(f"{source}: the work folder's path must not contain ',' '=' or control characters")
        spec = f"type=bind,source={source},target={target}" + (",readonly" if read_only else "")
        options += ["--mount", spec]
    return options


def command_argv(card: ModelCard, runtime: ContainerRuntime, values: Mapping[str, Any]) -> list[str]:
    """The argv after the image name."""
    inputs, outputs = container_paths(card, runtime)
    if runtime.protocol == "deepinfer-2017":
        return _legacy_argv(card, runtime, values, inputs, outputs)
    replacements = {
        **{f"inputs.{name}": path for name, path in inputs.items()},
        **{f"outputs.{name}": path for name, path in outputs.items()},
        **{f"params.{name}": argv_value(value) for name, value in values.items()},
        "data_path": _folder(runtime),
    }
    return [PLACEHOLDER.sub(lambda match: replacements[match.group(0)[1:-1]], item) for item in runtime.args]


def _legacy_argv(
    card: ModelCard,
    runtime: ContainerRuntime,
    values: Mapping[str, Any],
    inputs: Mapping[str, str],
    outputs: Mapping[str, str],
) -> list[str]:
    argv = ["--ModelName", runtime.model_name] if runtime.model_name else []
    for name, path in [*inputs.items(), *outputs.items()]:
        argv += [f"--{name}", path]
    for parameter in card.parameters:
        value = values[parameter.name]
        if isinstance(parameter, BoolParameter):
            argv += [f"--{parameter.name}"] if value else []
        else:
            argv += [f"--{parameter.name}", argv_value(value)]
    return argv


def run_options(card: ModelCard, job_name: str, label: str) -> list[str]:
    """Isolation and limits: removed after the run, no network, no capabilities, the card's memory limit."""
    memory = f"{max(int(card.resources.memory_gb * 1024), 64)}m"
    return [
        "--rm",
        "--network",
        "none",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--memory",
        memory,
        "--memory-swap",
        memory,
        "--label",
        f"{label}={job_name}",
    ]
