"""A MONAI bundle's ``configs/metadata.json`` → the card's identity, input, label names and stated metrics.

MONAI's metadata schema: ``name``, ``version``, ``description``, ``authors``, ``references``, ``intended_use``,
``data_source``, ``eval_metrics`` (numbers, or one level of named numbers) and ``network_data_format`` with one
entry per network input and output (``num_channels``, ``channel_def`` = channel index → name, ``modality``).
Everything is plain data; a value of the wrong type is a problem with its JSON path, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from deepinfer._exceptions import Problem
from deepinfer.card import SEMVER, slugify
from deepinfer.package._monai_config import child, is_number, short

METADATA: Final = "configs/metadata.json"
NO_LICENSE: Final = "NOASSERTION"
UNSPECIFIED: Final = "unspecified"
MAX_CHANNELS: Final = 1000
MAX_INPUT_CHANNELS: Final = 16
SEGMENTATION_FORMATS: Final = ("segmentation", "labels")


@dataclass
class BundleMetadata:
    """What the card takes from ``metadata.json``: ``identity`` holds card fields ready to use."""

    identity: dict[str, Any] = field(default_factory=dict)
    image_key: str = "image"
    pred_key: str = "pred"
    modality: str = UNSPECIFIED
    channels: int = 1
    channel_names: dict[int, str] = field(default_factory=dict)
    input_channels: int = 1
    file: str = METADATA
    notes: list[str] = field(default_factory=list)


class MetadataReader:
    """``name``: the file's name in the bundle (``configs/metadata.json`` or its YAML form), for problem paths."""

    def __init__(self, data: Mapping[str, Any], problems: list[Problem], name: str = METADATA) -> None:
        self.data = data
        self.problems = problems
        self.name = name

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(f"{self.name}:{path}", message))

    def text(self, key: str, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.problem(child("$", key), f"{key} is missing")
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(child("$", key), f"{key} must be text, got {short(value)}")
            return None
        return value.strip()

    def read(self) -> BundleMetadata:
        found = BundleMetadata(file=self.name)
        found.identity = self.identity(found.notes)
        formats = self.data.get("network_data_format")
        if not isinstance(formats, Mapping):
            self.problem("$.network_data_format", "network_data_format (the network's inputs and outputs) is missing")
            return found
        image = self.single(formats, "inputs")
        pred = self.single(formats, "outputs")
        if image is not None:
            found.image_key, found.modality = image[0], self.input_modality(*image)
            found.input_channels = self.input_channels(*image)
        if pred is not None:
            found.pred_key = pred[0]
            found.channels, found.channel_names = self.output_channels(*pred)
        return found

    def identity(self, notes: list[str]) -> dict[str, Any]:
        name = self.text("name", required=True) or "MONAI bundle"
        version = self.text("version", required=True) or "0.0.0"
        if not re.match(SEMVER, version):
            self.problem("$.version", f"version must be semantic (MAJOR.MINOR.PATCH), got {version!r}")
        description = " ".join(filter(None, (self.text("description"), self.text("task"))))
        authors = self.data.get("authors")
        license_name = self.text("license")
        if license_name is None:
            notes.append(
                "The bundle's metadata names no license: the card says NOASSERTION. Read the bundle's LICENSE file "
                "and set license.code and license.weights."
            )
        identity: dict[str, Any] = {
            "id": slugify(name),
            "name": name,
            "version": version,
            "description": description or f"MONAI bundle {name}",
            "authors": [authors] if isinstance(authors, str) else [a for a in authors or [] if isinstance(a, str)],
            "license": {"code": license_name or NO_LICENSE, "weights": license_name or NO_LICENSE},
            "training_data": self.text("data_source"),
            "metrics": self.metrics(),
        }
        if self.text("intended_use"):
            identity["intended_use"] = self.text("intended_use")
        references = self.data.get("references")
        if isinstance(references, list) and references and isinstance(references[0], str):
            identity["citation"] = {"text": references[0]}
        return identity

    def metrics(self) -> list[dict[str, Any]]:
        stated = self.data.get("eval_metrics") or {}
        if not isinstance(stated, Mapping):
            self.problem("$.eval_metrics", f"eval_metrics must be an object, got {short(stated)}")
            return []
        found = []
        reference = "stated by the bundle's authors (metadata.json eval_metrics); not measured by deepinfer"
        for name, value in stated.items():
            parts = value.items() if isinstance(value, Mapping) else [(None, value)]
            for part, number in parts:
                if not is_number(number):
                    self.problem(child(child("$.eval_metrics", name), part or ""), f"not a number: {short(number)}")
                    continue
                label = name if part is None else f"{name} ({part})"
                found.append({"name": label, "value": float(number), "reference": reference})
        return found

    def single(self, formats: Mapping[str, Any], side: str) -> tuple[str, Mapping[str, Any], str] | None:
        members = formats.get(side)
        path = child("$.network_data_format", side)
        if not isinstance(members, Mapping) or len(members) != 1:
            count = len(members) if isinstance(members, Mapping) else 0
            self.problem(path, f"deepinfer imports bundles with one network {side[:-1]}, this one has {count}")
            return None
        key, member = next(iter(members.items()))
        if not isinstance(member, Mapping) or not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,63}$", key):
            self.problem(child(path, key), "must be an object named by a plain key (letters, digits, '_')")
            return None
        return key, member, child(path, key)

    def input_channels(self, key: str, member: Mapping[str, Any], path: str) -> int:
        """The network input's channels: 1, or one per key that the preprocessing loads and stacks (checked
        against LoadImaged and ConcatItemsd by the importer)."""
        channels = member.get("num_channels", 1)
        if not isinstance(channels, int) or isinstance(channels, bool) or not 1 <= channels <= MAX_INPUT_CHANNELS:
            wanted = f"an integer in 1..{MAX_INPUT_CHANNELS}"
            self.problem(child(path, "num_channels"), f"must be {wanted}, got {short(channels)}")
            return 1
        return channels

    def input_modality(self, key: str, member: Mapping[str, Any], path: str) -> str:
        modality = member.get("modality")
        return modality.strip() if isinstance(modality, str) and modality.strip() else UNSPECIFIED

    def output_channels(self, key: str, member: Mapping[str, Any], path: str) -> tuple[int, dict[int, str]]:
        kind = member.get("format")
        if kind not in SEGMENTATION_FORMATS:
            wanted = " or ".join(SEGMENTATION_FORMATS)
            self.problem(
                child(path, "format"), f"deepinfer imports segmentation bundles (format {wanted}), got {kind!r}"
            )
        channels = member.get("num_channels")
        if not isinstance(channels, int) or isinstance(channels, bool) or not 1 <= channels <= MAX_CHANNELS:
            self.problem(child(path, "num_channels"), f"must be an integer in 1..{MAX_CHANNELS}, got {short(channels)}")
            return 1, {}
        names: dict[int, str] = {}
        definitions = member.get("channel_def") or {}
        if not isinstance(definitions, Mapping):
            self.problem(child(path, "channel_def"), f"must map channel numbers to names, got {short(definitions)}")
            return channels, names
        for index, name in definitions.items():
            if not (str(index).isdigit() and int(index) < channels and isinstance(name, str) and name.strip()):
                self.problem(child(child(path, "channel_def"), str(index)), f"not a channel name: {short(name)}")
                continue
            names[int(index)] = name.strip()
        return channels, names
